namespace NativeZcopy.Bench.Paired;

/// <summary>What <see cref="PairedRunner"/> measured for one <see cref="PairedComparison"/>.</summary>
/// <param name="Comparison">The target measured.</param>
/// <param name="Rounds">Rounds timed; each gives one sample of either side and one ratio.</param>
/// <param name="OursNs">Median ns per op of NativeZcopy's samples.</param>
/// <param name="PeerNs">Median ns per op of the peer's samples.</param>
/// <param name="Ratio">Median of the rounds' ratios (ours over the peer's, each from one round).</param>
/// <param name="RatioLow">Lower end of the median ratio's 95% interval (an order statistic of the rounds).</param>
/// <param name="RatioHigh">Upper end of that interval.</param>
/// <param name="OursAllocatedPerOp">Managed bytes NativeZcopy's samples allocated on the timing thread, per op.</param>
internal sealed record PairedResult(
    PairedComparison Comparison,
    int Rounds,
    double OursNs,
    double PeerNs,
    double Ratio,
    double RatioLow,
    double RatioHigh,
    double OursAllocatedPerOp);
