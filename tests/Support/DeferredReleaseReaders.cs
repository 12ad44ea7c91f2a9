using Xunit;

namespace NativeZcopy.Tests.Support;

/// <summary>
/// Tests that check what a thread has deferred before a Trim drops it, what its slice took back, or how
/// its slices and the arena's folios are laid out. Any allocator's Trim or Dispose, and any new thread's
/// registration, may drop every thread's deferred releases early and revoke its slice for a moment, so that a
/// release falls back to the shared count and a cut to the arena (all always allowed, nothing leaks); such a
/// test cannot run beside others: the collection runs on its own. (A throwaway test cutting 160 pieces of
/// 1 KiB from slices got a different folio count in 343-403 of 5,000 rounds with another thread creating,
/// trimming and disposing allocators beside it, every folio still unmapped at the end.) A test that needs a
/// slice of its own must also run on a fresh thread: the test thread's slice may belong to an allocator of an
/// earlier test, which keeps it for 64 more pieces.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DeferredReleaseReaders
{
    public const string Name = "Reads deferred releases";
}
