namespace NativeZcopy.Bench.Memory;

/// <summary>What one run of scenario 7's workload (<see cref="MixedLifetimeMemory"/>) measured, in bytes.</summary>
internal readonly record struct MixedLifetimeResult(long PeakMapped, long PeakLive, long LongLivedOnly);
