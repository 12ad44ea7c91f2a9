using System;
using System.Collections.Generic;

namespace NativeZcopy.Bench.Systems;

/// <summary>
/// A named way to configure NativeZcopy, and the one place the suite builds its allocators. Every scenario
/// runs its NativeZcopy benchmark once per entry of <see cref="All"/> (a BenchmarkDotNet argument, so the
/// peers run once): adding a policy to compare, such as folio retention, is one line in <see cref="All"/>.
/// </summary>
/// <param name="Name">Shown in result tables.</param>
/// <param name="Options">The options for a given folio size.</param>
public sealed record ZcopyVariant(string Name, Func<int, ZcopyAllocatorOptions> Options)
{
    /// <summary>The library's defaults: a folio is unmapped when its last piece is released.</summary>
    public static ZcopyVariant Default { get; } = new("unmap-on-release", folioSize => new ZcopyAllocatorOptions { FolioSize = folioSize });

    /// <summary>
    /// Retention on (issue 6): up to 16 dead folios per arena kept mapped and reused. 16 x 64 KiB x 2 arenas
    /// is 2 MiB held at most, enough for scenario 2's largest batches (1,000 x 1 KiB spans 16 folios).
    /// </summary>
    public static ZcopyVariant Retaining { get; } = new("retain-16", folioSize => new ZcopyAllocatorOptions { FolioSize = folioSize, RetainedFoliosPerArena = 16 });

    /// <summary>
    /// The thread cache off (issue 6's lever, measured against the default): every piece cut under its
    /// processor's arena lock and released with one atomic operation on the folio's count.
    /// </summary>
    public static ZcopyVariant ArenasOnly { get; } = new("arenas-only", folioSize => new ZcopyAllocatorOptions { FolioSize = folioSize, ThreadCache = false });

    /// <summary>Every variant the suite compares; the first is the one ratios are taken against.</summary>
    public static IReadOnlyList<ZcopyVariant> All { get; } =
    [
        Default,
        Retaining,
        ArenasOnly,
    ];

    /// <summary>
    /// This variant's place in <see cref="All"/>, found by name: a full run rebuilds the argument in the
    /// benchmark's own process, so it is an equal record, not the same instance.
    /// </summary>
    public int Index
    {
        get
        {
            for (int i = 0; i < All.Count; i++)
            {
                if (All[i].Name == Name)
                {
                    return i;
                }
            }

            throw new InvalidOperationException($"Unknown NativeZcopy variant '{Name}'.");
        }
    }

    /// <summary>One allocator per entry of <see cref="All"/>, in order, each with folios of <paramref name="folioSize"/>.</summary>
    public static ZcopyAllocator[] CreateAll(int folioSize = ZcopyAllocatorOptions.DefaultFolioSize)
    {
        var allocators = new ZcopyAllocator[All.Count];
        for (int i = 0; i < allocators.Length; i++)
        {
            allocators[i] = All[i].CreateAllocator(folioSize);
        }

        return allocators;
    }

    /// <summary>Disposes allocators made by <see cref="CreateAll"/>.</summary>
    public static void DisposeAll(ZcopyAllocator[] allocators)
    {
        foreach (ZcopyAllocator allocator in allocators)
        {
            allocator.Dispose();
        }
    }

    /// <summary>A new allocator of this variant.</summary>
    public ZcopyAllocator CreateAllocator(int folioSize = ZcopyAllocatorOptions.DefaultFolioSize) => new(Options(folioSize));

    /// <inheritdoc/>
    public override string ToString() => Name;
}
