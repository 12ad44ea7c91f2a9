using System;
using System.Diagnostics;
using System.Runtime;

namespace NativeZcopy.Bench.Paired;

/// <summary>
/// Times the two sides of a <see cref="PairedComparison"/> in turn, round after round, in one process, and
/// takes the target's ratio in each round: a ratio whose two sides ran in the same period of the host.
/// </summary>
/// <remarks>
/// BenchmarkDotNet runs each case in a process of its own, one after the other, and this host moves between
/// two speed levels in periods of a tenth of a second to several seconds (docs/benchmarks.md, step 53): a
/// ratio of two such rows is two draws, and a target near its bound is met in one run and missed in the next
/// with the code unchanged. Here a round times one sample of each side, a few milliseconds apart, so both
/// nearly always fall in one period and the period cancels out of the round's ratio. The sides alternate
/// which goes first (ABBA), so neither always runs on the caches the other left. The result is the median of
/// the rounds' ratios with a distribution-free 95% interval; rounds in one long period are not independent,
/// so the interval is if anything too narrow, which is why a target is called met only when all of it is.
/// These figures complement the BenchmarkDotNet tables (which also report allocations across every thread
/// and the full spread); they do not replace them.
/// </remarks>
internal static class PairedRunner
{
    /// <summary>
    /// Rounds per comparison: 151 gives the median's 95% interval about 25 ranks wide (n/2 +- 1.96 sqrt(n)/2),
    /// and with two samples of <see cref="SampleSeconds"/> a round, about a second per comparison.
    /// </summary>
    private const int Rounds = 151;

    /// <summary>
    /// Target length of one sample: 2 ms is far shorter than the host's shortest level period (0.1 s), so a
    /// round's two samples share one, yet holds thousands of operations, so the timer's resolution and a
    /// stray interrupt are small against it.
    /// </summary>
    private const double SampleSeconds = 0.002;

    /// <summary>
    /// Shortest warm-up before calibration. The runtime starts counting calls only once no new method has been
    /// compiled for 100 ms, and with profile-guided optimization a method passes an instrumented tier before
    /// its final one, each promotion behind that delay, compiled in the background; in-process benchmarks here
    /// have been seen to reach their final code after about 0.6 s (docs/benchmarks.md, "Short run").
    /// </summary>
    private const double WarmupSeconds = 0.6;

    /// <summary>
    /// The warm-up also goes on until no method has been compiled for this long (at most
    /// <see cref="MaxWarmupSeconds"/>): twice the runtime's 100 ms call-counting delay, so a promotion still
    /// pending would have shown.
    /// </summary>
    private const double QuietJitSeconds = 0.2;

    /// <summary>Longest warm-up: a process that keeps compiling (a timer's callback, say) is measured anyway.</summary>
    private const double MaxWarmupSeconds = 3;

    /// <summary>z for a two-sided 95% interval.</summary>
    private const double Z95 = 1.96;

    /// <summary>Measures <paramref name="comparison"/>.</summary>
    public static PairedResult Measure(PairedComparison comparison)
    {
        ArgumentNullException.ThrowIfNull(comparison);
        WarmUp(comparison);

        int oursInvocations = InvocationsPerSample(comparison.Ours);
        int peerInvocations = InvocationsPerSample(comparison.Peer);
        double oursOps = (double)oursInvocations * comparison.OursOps;
        double peerOps = (double)peerInvocations * comparison.PeerOps;

        var ours = new double[Rounds];
        var peer = new double[Rounds];
        var ratios = new double[Rounds];
        long oursAllocated = 0;
        for (int round = 0; round < Rounds; round++)
        {
            long allocatedBefore;
            if (round % 2 == 0)
            {
                allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
                ours[round] = Time(comparison.Ours, oursInvocations) / oursOps;
                oursAllocated += GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
                peer[round] = Time(comparison.Peer, peerInvocations) / peerOps;
            }
            else
            {
                peer[round] = Time(comparison.Peer, peerInvocations) / peerOps;
                allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
                ours[round] = Time(comparison.Ours, oursInvocations) / oursOps;
                oursAllocated += GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            }

            ratios[round] = ours[round] / peer[round];
        }

        Array.Sort(ours);
        Array.Sort(peer);
        Array.Sort(ratios);
        double halfWidth = Z95 * Math.Sqrt(Rounds) / 2;
        int low = Math.Max(0, (int)Math.Floor((Rounds / 2.0) - halfWidth) - 1);
        int high = Math.Min(Rounds - 1, (int)Math.Ceiling(1 + (Rounds / 2.0) + halfWidth) - 1);
        return new PairedResult(
            comparison,
            Rounds,
            ours[Rounds / 2],
            peer[Rounds / 2],
            ratios[Rounds / 2],
            ratios[low],
            ratios[high],
            oursAllocated / (oursOps * Rounds));
    }

    /// <summary>
    /// Runs both sides in turn, through <see cref="Time"/> as the rounds do (so its loop is warm too), for at
    /// least <see cref="WarmupSeconds"/> and until the JIT has compiled nothing for <see cref="QuietJitSeconds"/>.
    /// </summary>
    private static void WarmUp(PairedComparison comparison)
    {
        long start = Stopwatch.GetTimestamp();
        long compiled = JitInfo.GetCompiledMethodCount();
        long quietSince = start;
        while (true)
        {
            Time(comparison.Ours, 1);
            Time(comparison.Peer, 1);
            long now = Stopwatch.GetTimestamp();
            long count = JitInfo.GetCompiledMethodCount();
            if (count != compiled)
            {
                compiled = count;
                quietSince = now;
            }

            double elapsed = (double)(now - start) / Stopwatch.Frequency;
            bool quiet = (double)(now - quietSince) / Stopwatch.Frequency >= QuietJitSeconds;
            if ((elapsed >= WarmupSeconds && quiet) || elapsed >= MaxWarmupSeconds)
            {
                return;
            }
        }
    }

    /// <summary>Invocations that take about <see cref="SampleSeconds"/>, from the quickest of a few timed ones.</summary>
    private static int InvocationsPerSample(Action invocation)
    {
        double quickest = double.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            quickest = Math.Min(quickest, Time(invocation, 1));
        }

        return (int)Math.Clamp(Math.Ceiling(SampleSeconds * 1e9 / quickest), 1, int.MaxValue);
    }

    /// <summary>Nanoseconds <paramref name="invocations"/> calls of <paramref name="invocation"/> take.</summary>
    private static double Time(Action invocation, int invocations)
    {
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < invocations; i++)
        {
            invocation();
        }

        return (Stopwatch.GetTimestamp() - start) * 1e9 / Stopwatch.Frequency;
    }
}
