using System;
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
}
