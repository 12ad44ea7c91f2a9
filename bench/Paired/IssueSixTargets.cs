using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using NativeZcopy.Bench.Scenarios;
using NativeZcopy.Bench.Systems;
using NativeZcopy.Bench.Threads;

namespace NativeZcopy.Bench.Paired;

/// <summary>
/// Issue 6's targets as <see cref="PairedComparison"/>s, each side the workload its scenario's
/// BenchmarkDotNet rows run (the same <see cref="Workloads"/> loops, systems and rigs, at the issue's
/// sizes), and the allocators, pages, buffers and threads they need.
/// </summary>
internal sealed unsafe class IssueSixTargets : IDisposable
{
    /// <summary>Pieces per invocation in scenarios 1, 2 and 5, as there (<see cref="PeerScenario"/>).</summary>
    private const int Pieces = 1000;

    /// <summary>The issue's piece size, "128 B pieces unless said".</summary>
    private const int PieceSize = 128;

    /// <summary>Scenarios 3 and 4's piece size (<see cref="TwoThreadScenario.Size"/>).</summary>
    private const int ThreadedPieceSize = 256;

    /// <summary>The MemDup target's size.</summary>
    private const int CopySize = 1024;

    /// <summary>The scenarios with a target, as each target's label starts: what <c>-- targets</c> accepts.</summary>
    public static IReadOnlyList<string> Scenarios { get; } = ["1", "2", "3", "4", "5"];

    /// <summary>Scenario 3's ring.</summary>
    private const int RingCapacity = 256;

    private readonly ZcopyAllocator _default = ZcopyVariant.Default.CreateAllocator();
    private readonly ZcopyAllocator _retaining = ZcopyVariant.Retaining.CreateAllocator();

    /// <summary>
    /// The one-thread pair that the two-thread targets compare with, on an allocator of its own: scenarios 3
    /// and 4 measure that baseline in a process of its own, so here it must not run on folios the rig left in
    /// whatever state it left them (a cross-thread lap behind, say).
    /// </summary>
    private readonly ZcopyAllocator _baseline = ZcopyVariant.Default.CreateAllocator();
    private readonly BumpPage _page = new();
    /// <summary>The copy's page-aligned source (scenario 5's), as an address: iterators are safe code.</summary>
    private readonly nint _source;

    /// <summary>The warm floor's page-aligned destination.</summary>
    private readonly nint _destination;

    /// <summary>Builds every single-thread system and the copy's page-aligned buffers.</summary>
    public IssueSixTargets()
    {
        _source = (nint)NativeMemory.AlignedAlloc(CopySize, 4096);
        _destination = (nint)NativeMemory.AlignedAlloc(CopySize, 4096);
        new Span<byte>((void*)_source, CopySize).Fill(1);
    }

    /// <summary>
    /// The targets, in the issue's order. Enumerate once, measuring each before moving on: the two-thread
    /// targets start their rig's second thread when they are reached and stop it when the enumeration moves
    /// past them (the rig's workload then throws), since an idle rig thread spins on a core, and two of them
    /// would leave the timing thread sharing a core of this two-core host with a spinner during every other
    /// target.
    /// </summary>
    public IEnumerable<PairedComparison> Comparisons()
    {
        var zcopy = new ZcopySystem(_default);
        var baseline = new ZcopySystem(_baseline);
        var retaining = new ZcopySystem(_retaining);
        var spinLocked = new SpinLockedFloorSystem(_page);
        var pieces = new BioVec[Pieces];
        var addresses = new nint[Pieces];
        nint source = _source;
        nint destination = _destination;
        ZcopyAllocator allocator = _default;

        yield return new("1: 128 B pair <= 0.75x NativeMemory", 0.75,
            () => Workloads.Pairs<ZcopySystem, BioVec>(zcopy, PieceSize, Pieces), Pieces,
            () => Workloads.Pairs<NativeMemorySystem, nint>(default, PieceSize, Pieces), Pieces);
        yield return new("1: 128 B pair <= 1.0x ArrayPool", 1.0,
            () => Workloads.Pairs<ZcopySystem, BioVec>(zcopy, PieceSize, Pieces), Pieces,
            () => Workloads.Pairs<ArrayPoolSystem, byte[]>(default, PieceSize, Pieces), Pieces);
        yield return new("1: 128 B pair <= 1.5x spin-locked floor", 1.5,
            () => Workloads.Pairs<ZcopySystem, BioVec>(zcopy, PieceSize, Pieces), Pieces,
            () => Workloads.Pairs<SpinLockedFloorSystem, nint>(spinLocked, PieceSize, Pieces), Pieces);
        yield return new("2: default batch <= 1.5x OS floor", 1.5,
            () => Workloads.Batch(zcopy, pieces, PieceSize), Pieces,
            () => OsFloor.MapTouchUnmap((long)Pieces * PieceSize, ZcopyAllocatorOptions.DefaultFolioSize), Pieces);
        yield return new("2: retain-16 batch <= 0.3x NativeMemory", 0.3,
            () => Workloads.Batch(retaining, pieces, PieceSize), Pieces,
            () => Workloads.Batch(default(NativeMemorySystem), addresses, PieceSize), Pieces);

        // While the one-thread baseline is timed, the rig's second thread waits by spinning on the other core,
        // where BenchmarkDotNet's baseline process has no second thread: a spinner on that core did not move
        // the batch's speed in step 53's test (docs/benchmarks.md), and it is what the rig's own rounds have.
        using (var crossThreadRig = new CrossThreadRig<ZcopySystem, BioVec>(zcopy, ThreadedPieceSize, RingCapacity))
        {
            yield return new("3: cross-thread 256 B <= 1.5x pair", 1.5,
                crossThreadRig.Run, TwoThreadScenario.Pieces,
                () => Workloads.Pairs<ZcopySystem, BioVec>(baseline, ThreadedPieceSize, TwoThreadScenario.Pieces), TwoThreadScenario.Pieces);
        }

        using (var twinRig = new TwinRig<ZcopySystem, BioVec>(zcopy, ThreadedPieceSize))
        {
            yield return new("4: two threads 256 B <= 1.5x pair", 1.5,
                twinRig.Run, TwoThreadScenario.Pieces,
                () => TwinRig<ZcopySystem, BioVec>.RunPairs(baseline, ThreadedPieceSize), TwoThreadScenario.Pieces);
        }

        yield return new("5: MemDup 1 KiB <= 1.2x MemoryCopy", 1.2,
            () => MemDups(allocator, source), Pieces,
            () => Copies(source, destination), Pieces);
    }

    /// <summary>Frees what the targets hold; the rigs' threads are stopped by <see cref="Comparisons"/>.</summary>
    public void Dispose()
    {
        _default.Dispose();
        _retaining.Dispose();
        _baseline.Dispose();
        _page.Dispose();
        NativeMemory.AlignedFree((void*)_source);
        NativeMemory.AlignedFree((void*)_destination);
    }

    /// <summary>Scenario 5's NativeZcopy row: MemDup and Put, <see cref="Pieces"/> times.</summary>
    private static void MemDups(ZcopyAllocator allocator, nint source)
    {
        var bytes = new ReadOnlySpan<byte>((void*)source, CopySize);
        for (int i = 0; i < Pieces; i++)
        {
            NativePages.Put(allocator.MemDup(bytes));
        }
    }

    /// <summary>Scenario 5's warm floor: the same copy into one page-aligned buffer, <see cref="Pieces"/> times.</summary>
    private static void Copies(nint source, nint destination)
    {
        for (int i = 0; i < Pieces; i++)
        {
            Buffer.MemoryCopy((void*)source, (void*)destination, CopySize, CopySize);
        }
    }
}
