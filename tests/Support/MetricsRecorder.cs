using System;
using System.Collections.Generic;
using System.Diagnostics.Metrics;

namespace NativeZcopy.Tests.Support;

/// <summary>
/// A <see cref="MeterListener"/> on the NativeZcopy meters its filter admits, collecting the
/// observable instruments on demand.
/// </summary>
internal sealed class MetricsRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly List<RecordedMeasurement> _recorded = [];

    public MetricsRecorder(Func<Meter, bool> accept)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == ZcopyMetrics.MeterName && accept(instrument.Meter))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? allocator = null;
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == ZcopyMetrics.AllocatorTag)
                {
                    allocator = (string?)tag.Value;
                }
            }

            _recorded.Add(new RecordedMeasurement(instrument, allocator, value));
        });
        _listener.Start();
    }

    /// <summary>Collects every enabled observable instrument once and returns what they measured.</summary>
    public List<RecordedMeasurement> Collect()
    {
        _recorded.Clear();
        _listener.RecordObservableInstruments();
        return [.. _recorded];
    }

    public void Dispose() => _listener.Dispose();
}
