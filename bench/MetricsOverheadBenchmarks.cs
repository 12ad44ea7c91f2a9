using System;
using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;

namespace NativeZcopy.Bench;

/// <summary>
/// What the NativeZcopy meter costs. <see cref="AllocPut"/> is the hot path, with and without a
/// <see cref="MeterListener"/> subscribed to every NativeZcopy instrument: the instruments are observable,
/// so the two should not differ. <see cref="Collect"/> is what a listener pays per collection (every
/// instrument once, over every live allocator of this process).
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class MetricsOverheadBenchmarks : IDisposable
{
    /// <summary>Pieces per invocation; per-op figures are per Alloc+Put pair.</summary>
    private const int Pairs = 1000;

    private ZcopyAllocator? _allocator;
    private MeterListener? _listener;
    private long _measured;

    /// <summary>Whether a listener is subscribed to the NativeZcopy instruments.</summary>
    [Params(false, true)]
    public bool ListenerAttached { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { Name = nameof(MetricsOverheadBenchmarks) });

        // The meter is published with the process's first mapping: make it, so Collect has instruments.
        NativePages.Put(_allocator.Alloc(128));
        if (ListenerAttached)
        {
            _listener = new MeterListener
            {
                InstrumentPublished = (instrument, listener) =>
                {
                    if (instrument.Meter.Name == ZcopyMetrics.MeterName)
                    {
                        listener.EnableMeasurementEvents(instrument);
                    }
                },
            };
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => _measured += value);
            _listener.Start();
        }
    }

    [Benchmark(OperationsPerInvoke = Pairs)]
    public void AllocPut()
    {
        ZcopyAllocator allocator = _allocator!;
        for (int i = 0; i < Pairs; i++)
        {
            NativePages.Put(allocator.Alloc(128));
        }
    }

    [Benchmark]
    public long Collect()
    {
        _listener?.RecordObservableInstruments();
        return _measured;
    }

    [GlobalCleanup]
    public void Dispose()
    {
        _listener?.Dispose();
        _listener = null;
        _allocator?.Dispose();
        _allocator = null;
        GC.SuppressFinalize(this);
    }
}
