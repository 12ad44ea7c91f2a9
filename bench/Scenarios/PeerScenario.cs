using System.Collections.Generic;
using BenchmarkDotNet.Attributes;
using DotNetty.Buffers;
using NativeZcopy.Bench.Systems;

namespace NativeZcopy.Bench.Scenarios;

/// <summary>
/// What scenarios 1 and 2 share: the fragment sizes and every system of the issue, built once per
/// benchmark case. NativeZcopy runs once per <see cref="ZcopyVariant"/> (a per-method argument, so the
/// peers are not repeated).
/// </summary>
public abstract class PeerScenario
{
    /// <summary>Pieces per benchmark invocation; per-op figures are per piece.</summary>
    protected const int Pieces = 1000;

    private ZcopyAllocator[] _zcopy = [];
    private ZcopyLocalCache? _cache;
    private ZcopyMemoryPool? _pool;
    private IByteBufferAllocator? _dotNetty;
    private BumpPage? _page;

    /// <summary>Fragment size in bytes.</summary>
    [ParamsSource(nameof(Sizes))]
    public int Size { get; set; }

    /// <summary>The sizes of the issue (64, 256, 1024, 4096) plus 128, where its target is set.</summary>
    public static IEnumerable<int> Sizes => SuiteMode.IsShort ? [128, 1024] : [64, 128, 256, 1024, 4096];

    /// <summary>The NativeZcopy variants to run.</summary>
    public static IEnumerable<ZcopyVariant> Variants => ZcopyVariant.All;

    /// <summary>The DotNetty system.</summary>
    private protected DotNettySystem DotNetty => new(_dotNetty!);

    /// <summary>The bump-pointer floor.</summary>
    private protected BumpFloorSystem BumpFloor => new(_page!);

    /// <summary>The bump-pointer floor under a spin lock.</summary>
    private protected SpinLockedFloorSystem SpinLocked => new(_page!);

    [GlobalSetup]
    public void Setup()
    {
        _zcopy = ZcopyVariant.CreateAll();
        _cache = _zcopy[0].CreateLocalCache();
        _pool = new ZcopyMemoryPool(_zcopy[0]);
        _dotNetty = DotNettySystem.CreateAllocator();
        _page = new BumpPage();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cache?.Dispose();
        _pool?.Dispose();
        ZcopyVariant.DisposeAll(_zcopy);

        _page?.Dispose();
    }

    /// <summary>NativeZcopy as a MemoryPool, over the default variant's allocator.</summary>
    private protected ZcopyMemoryPoolSystem Pool => new(_pool!);

    /// <summary>NativeZcopy's <see cref="ZcopyAllocator.TryAlloc"/>, on the default variant's allocator.</summary>
    private protected ZcopyTryAllocSystem TryAllocSystem => new(_zcopy[ZcopyVariant.Default.Index]);

    /// <summary>NativeZcopy through a local cache over the default variant's allocator.</summary>
    private protected ZcopyLocalCacheSystem LocalCache => new(_cache!);

    /// <summary>The NativeZcopy system of a variant.</summary>
    private protected ZcopySystem ZcopyOf(ZcopyVariant variant) => new(_zcopy[variant.Index]);
}
