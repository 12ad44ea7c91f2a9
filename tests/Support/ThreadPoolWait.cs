using System;

namespace NativeZcopy.Tests.Support;

/// <summary>How long a test waits for work the library hands to the thread pool.</summary>
internal static class ThreadPoolWait
{
    /// <summary>
    /// For a leak report or a leak-check tick, which the library delivers from the thread pool: tests running
    /// beside one can keep every pool thread busy for a while, and the wait is for the pool, not for the
    /// library. 10 s was not enough: in full runs with 8 test threads and pool threads retiring after 100 ms
    /// idle (DOTNET_ThreadPool_ThreadTimeoutMs), the pool, and the test runner with it, stalled for 10-11 s in
    /// 2 of 3 runs, and one stall failed the finalizer report test ('no report of the outstanding fragment').
    /// Only a pool held up for longer than this fails such a wait; a report that never comes still does.
    /// </summary>
    public static readonly TimeSpan Budget = TimeSpan.FromSeconds(60);
}
