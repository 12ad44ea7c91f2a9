using System;
using NativeZcopy.ThreadCache;
using Xunit;

namespace NativeZcopy.Tests.Support;

/// <summary>Garbage collections a test waits on, for objects that must be collectable.</summary>
internal static class Collections
{
    /// <summary>
    /// Collects until <paramref name="target"/> is gone, then lets pending finalizers run: another test's
    /// collection may have taken the object before the loop ran, with its finalizers (an allocator's
    /// registration retiring its metrics series, say) queued but not run yet.
    /// </summary>
    public static void CollectUntilGone(WeakReference target, string what)
    {
        for (int i = 0; i < 10 && target.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.False(target.IsAlive, $"{what} was not collected");
        GC.WaitForPendingFinalizers();
    }

    /// <summary>
    /// Before a test compares a process-wide count (LiveRuns): an allocator an earlier test dropped without
    /// Dispose gives its folios back from its finalizer, at whatever collection finds it, so this finalizes every
    /// one already dropped. First it lets go of the slices that would drop one inside the test: this thread's
    /// (the test's own allocator would take the thread over) and dead threads' (the registry keeps them until a
    /// reclaim prunes them, and the test's own Dispose would). Idle live threads still hold theirs.
    /// </summary>
    public static void SettleDroppedAllocators()
    {
        if (ThreadSlice.Current is { } slice && slice.TryDetach(out ZcopyAllocator? previous, out FolioSlice held))
        {
            ThreadSlice.GiveBack(previous, held);
        }

        new ZcopyAllocator().Dispose(); // its reclaim prunes dead threads

        for (int i = 0; i < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }
}
