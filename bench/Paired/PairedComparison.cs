using System;

namespace NativeZcopy.Bench.Paired;

/// <summary>
/// One of issue 6's targets as two workloads timed in turn in one process: NativeZcopy's and its peer's.
/// </summary>
/// <param name="Target">What the issue asks, as the table prints it.</param>
/// <param name="Bound">The largest ratio (NativeZcopy's time per op over the peer's) that meets the target.</param>
/// <param name="Ours">One invocation of NativeZcopy's workload.</param>
/// <param name="OursOps">Operations in one invocation of <paramref name="Ours"/>.</param>
/// <param name="Peer">One invocation of the peer's workload.</param>
/// <param name="PeerOps">Operations in one invocation of <paramref name="Peer"/>.</param>
internal sealed record PairedComparison(string Target, double Bound, Action Ours, int OursOps, Action Peer, int PeerOps);
