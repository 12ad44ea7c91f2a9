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
    /// one already dropped, and first lets go of this thread's slice, which would otherwise drop the last
    /// allocator it cut from inside the test, when the test's own allocator takes the thread over.
    /// </summary>
    public static void SettleDroppedAllocators()
    {
        if (ThreadSlice.Current is { } slice && slice.TryDetach(out ZcopyAllocator? previous, out FolioSlice held))
        {
            ThreadSlice.GiveBack(previous, held);
        }

        for (int i = 0; i < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }
}
