using System.Diagnostics.Metrics;

namespace NativeZcopy.Tests.Support;

/// <summary>One measurement a <see cref="MetricsRecorder"/> took: which instrument, which allocator, what value.</summary>
public readonly record struct RecordedMeasurement(Instrument Instrument, string? Allocator, long Value);
