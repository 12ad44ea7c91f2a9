using System.Collections.Generic;

namespace NativeZcopy.Metrics;

/// <summary>One instrument name's sum so far in a <see cref="ZcopyInstruments"/> callback, and the tags to report it with.</summary>
internal readonly record struct MeasurementSum(long Value, KeyValuePair<string, object?>[] Tags);
