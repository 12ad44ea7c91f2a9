using System.Collections.Generic;
using NativeZcopy.SideTable;

namespace NativeZcopy.Metrics;

/// <summary>What the metrics know about one live <see cref="ZcopyAllocator"/> besides its statistics.</summary>
internal sealed class AllocatorRegistration
{
    /// <summary>Creates the registration of an allocator named <paramref name="name"/>.</summary>
    public AllocatorRegistration(string name, PageRunOwner runs)
    {
        Name = name;
        Tags = [new KeyValuePair<string, object?>(ZcopyMetrics.AllocatorTag, name)];
        Runs = runs;
    }

    /// <summary>The <c>nativezcopy.allocator</c> tag value.</summary>
    public string Name { get; }

    /// <summary>The tags every measurement of this allocator carries, built once.</summary>
    public KeyValuePair<string, object?>[] Tags { get; }

    /// <summary>Owner of the page runs rented through <see cref="ZcopyMemoryPool"/>s over this allocator.</summary>
    public PageRunOwner Runs { get; }
}
