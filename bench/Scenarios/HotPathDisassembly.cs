using BenchmarkDotNet.Attributes;

namespace NativeZcopy.Bench.Scenarios;

/// <summary>
/// Issue 6: the generated code of the fast paths, to count their instructions
/// (<c>--filter '*HotPathDisassembly*'</c>; the listing lands in BenchmarkDotNet.Artifacts/results/*-asm.md).
/// Needs a separate process, so it is not part of the short in-process run.
/// </summary>
[DisassemblyDiagnoser(maxDepth: 3, printSource: false, exportGithubMarkdown: true)]
public class HotPathDisassembly
{
    private ZcopyAllocator? _allocator;
    private ZcopyLocalCache? _cache;

    [GlobalSetup]
    public void Setup()
    {
        _allocator = new ZcopyAllocator();
        _cache = _allocator.CreateLocalCache();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cache?.Dispose();
        _allocator?.Dispose();
    }

    /// <summary>One Alloc and one Put through the per-processor arenas and the side table.</summary>
    [Benchmark]
    public void AllocPut() => NativePages.Put(_allocator!.Alloc(128));

    /// <summary>One TryAlloc and one Put: the same path as <see cref="AllocPut"/>, answering false instead of throwing.</summary>
    [Benchmark]
    public void TryAllocPut()
    {
        if (_allocator!.TryAlloc(128, out BioVec piece))
        {
            NativePages.Put(piece);
        }
    }

    /// <summary>One Alloc and one Put through a local cache.</summary>
    [Benchmark]
    public void LocalCacheAllocPut() => _cache!.Put(_cache.Alloc(128));
}
