using Xunit;

namespace NativeZcopy.Tests.Support;

/// <summary>
/// Tests that check what a thread has deferred before a Trim drops it, or what its slice took back. Any
/// allocator's Trim or Dispose, and any new thread's registration, may drop every thread's deferred releases
/// early and revoke its slice for a moment, so that a release falls back to the shared count (both always
/// allowed); such a test cannot run beside others: the collection runs on its own.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DeferredReleaseReaders
{
    public const string Name = "Reads deferred releases";
}
