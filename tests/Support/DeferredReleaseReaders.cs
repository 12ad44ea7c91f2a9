using Xunit;

namespace NativeZcopy.Tests.Support;

/// <summary>
/// Tests that check what a thread has deferred before a Trim drops it. Any allocator's Trim or Dispose,
/// and any new thread's registration, may drop every thread's deferred releases early (which is always
/// allowed), so such a test cannot run beside others: the collection runs on its own.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DeferredReleaseReaders
{
    public const string Name = "Reads deferred releases";
}
