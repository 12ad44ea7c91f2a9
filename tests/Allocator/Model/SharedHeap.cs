using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using NativeZcopy.SideTable;
using NativeZcopy.Tests.Support;

namespace NativeZcopy.Tests.Allocator.Model;

/// <summary>
/// The system under test for the parallel check: a tracking allocator with two arenas, three of its
/// pieces and one page run handed out up front (one ref each), and the pieces allocated since. Every
/// member is safe to use from the threads CsCheck runs operations on.
/// </summary>
internal sealed class SharedHeap
{
    /// <summary>Index of the page run among <see cref="Pieces"/>; the others are allocator pieces.</summary>
    public const int RunIndex = 3;

    private int _refused;

    public SharedHeap()
    {
        Allocator = new ZcopyAllocator(
            new ZcopyAllocatorOptions { FolioSize = 4096, TrackFragments = true, LeakReportAge = Timeout.InfiniteTimeSpan },
            Source,
            processors: 2);
        Pieces = [Allocator.Alloc(100), Allocator.Alloc(200), Allocator.Alloc(300), NativePages.Alloc(5000, new PageRunOwner(Source))];
    }

    public FaultInjectingPageSource Source { get; } = new();

    public ZcopyAllocator Allocator { get; }

    public BioVec[] Pieces { get; }

    /// <summary>Pieces allocated by operations, with the byte each was filled with.</summary>
    public ConcurrentQueue<(BioVec Piece, byte Fill)> Allocated { get; } = new();

    public int Refused => Volatile.Read(ref _refused);

    /// <summary>A Get or Put of a fixed piece; a refusal (a released piece) is counted, never thrown.</summary>
    public void Touch(int index, bool get)
    {
        try
        {
            if (get)
            {
                NativePages.Get(Pieces[index]);
            }
            else
            {
                NativePages.Put(Pieces[index]);
            }
        }
        catch (InvalidOperationException)
        {
            Interlocked.Increment(ref _refused);
        }
    }

    public void Alloc(int size)
    {
        BioVec piece = Allocator.Alloc(size);
        piece.AsSpan().Fill((byte)size);
        Allocated.Enqueue((piece, (byte)size));
    }

    public bool Matches(SharedModel model)
    {
        var tracked = Allocator.GetOutstandingFragments().ToDictionary(o => o.Fragment.Address, o => o.References);
        for (int i = 0; i < RunIndex; i++)
        {
            if (tracked.GetValueOrDefault(Pieces[i].Address) != model.Refs[i])
            {
                return false;
            }
        }

        BioVec run = Pieces[RunIndex];
        bool runLive = (PageSideTable.Find(run.Page) & ~PageSideTable.TrackedBit) == run.Entry;
        if (model.Refs[RunIndex] == 0 ? runLive : !runLive || NativePages.RefCount(run.Page) != model.Refs[RunIndex])
        {
            return false;
        }

        foreach ((BioVec piece, byte fill) in Allocated)
        {
            if (tracked.GetValueOrDefault(piece.Address) != 1 || piece.AsSpan().IndexOfAnyExcept(fill) >= 0)
            {
                return false;
            }
        }

        return Refused == model.Refused && Allocated.Count == model.Allocated && tracked.Count == RunIndex - model.Refs.Take(RunIndex).Count(r => r == 0) + model.Allocated;
    }

    /// <summary>Drops every reference still outstanding, disposes, and says whether anything stayed mapped.</summary>
    public bool ReleaseAllAndCheckNothingLeaks()
    {
        foreach (OutstandingFragment fragment in Allocator.GetOutstandingFragments())
        {
            for (int i = 0; i < fragment.References; i++)
            {
                NativePages.Put(fragment.Fragment);
            }
        }

        BioVec run = Pieces[RunIndex];
        while ((PageSideTable.Find(run.Page) & ~PageSideTable.TrackedBit) == run.Entry)
        {
            NativePages.Put(run);
        }

        Allocator.Dispose();
        return Source.BytesMapped == 0;
    }

    public override string ToString() => $"refused {Refused}, allocated {Allocated.Count}";
}
