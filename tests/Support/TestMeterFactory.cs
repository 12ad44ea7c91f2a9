using System;
using System.Collections.Generic;
using System.Diagnostics.Metrics;

namespace NativeZcopy.Tests.Support;

/// <summary>
/// An <see cref="IMeterFactory"/> as dependency injection provides one: meters are scoped to the factory,
/// the same options give the same meter, and disposing the factory disposes its meters.
/// </summary>
internal sealed class TestMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];

    public Meter Create(MeterOptions options)
    {
        lock (_meters)
        {
            foreach (Meter existing in _meters)
            {
                if (existing.Name == options.Name && existing.Version == options.Version)
                {
                    return existing;
                }
            }

            options.Scope = this;
            var meter = new Meter(options);
            _meters.Add(meter);
            return meter;
        }
    }

    public void Dispose()
    {
        lock (_meters)
        {
            foreach (Meter meter in _meters)
            {
                meter.Dispose();
            }

            _meters.Clear();
        }
    }
}
