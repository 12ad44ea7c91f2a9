using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using NativeZcopy.SideTable;
using NativeZcopy.Tests.Support;

namespace NativeZcopy.Tests.Allocator.Model;

/// <summary>
/// The system under test as the model sees it: a tracking allocator and a page-run owner on their own
/// page source, the pieces handed out (in the model's order) and the user's own count of the references
/// it holds on each, which decides whether an operation is expected to be refused.
/// </summary>
internal sealed class RealHeap
{
    public RealHeap()
    {
        Allocator = new ZcopyAllocator(
            new ZcopyAllocatorOptions { FolioSize = 4096, TrackFragments = true, LeakReportAge = Timeout.InfiniteTimeSpan },
            Source,
            processors: 1);
        Runs = new PageRunOwner(Source);
    }

    public FaultInjectingPageSource Source { get; } = new();

    public ZcopyAllocator Allocator { get; }

    public PageRunOwner Runs { get; }

    public List<(BioVec Piece, bool IsRun)> Pieces { get; } = [];

    /// <summary>The user's bookkeeping: references it holds on each piece.</summary>
    public List<int> Held { get; } = [];

    /// <summary>Operations the library refused with its documented exception.</summary>
    public int Refused { get; set; }

    public void Add(BioVec piece, bool isRun)
    {
        piece.AsSpan().Fill((byte)Pieces.Count);
        Pieces.Add((piece, isRun));
        Held.Add(1);
    }

    /// <summary>The observable state agrees with the model: bytes, run counts, tracked references, refusals.</summary>
    public bool Matches(HeapModel model)
    {
        if (Pieces.Count != model.Pieces.Count || Refused != model.Refused || Allocator.GetStatistics().FragmentsAllocated != model.Fragments)
        {
            return false;
        }

        Dictionary<nint, int> tracked = Allocator.GetOutstandingFragments().ToDictionary(o => o.Fragment.Address, o => o.References);
        int liveFragments = 0;
        for (int i = 0; i < Pieces.Count; i++)
        {
            (BioVec piece, bool isRun) = Pieces[i];
            ModelPiece expected = model.Pieces[i];
            if (piece.Length != expected.Length || isRun != expected.IsRun || Held[i] != expected.Refs)
            {
                return false;
            }

            if (expected.Refs == 0)
            {
                continue;
            }

            if (piece.AsSpan().IndexOfAnyExcept(expected.Fill) >= 0)
            {
                return false;
            }

            if (isRun ? NativePages.RefCount(piece.Page) != expected.Refs : tracked.GetValueOrDefault(piece.Address) != expected.Refs)
            {
                return false;
            }

            liveFragments += isRun ? 0 : 1;
        }

        return tracked.Count == liveFragments;
    }

    /// <summary>Releases every reference still held, disposes, and says whether anything stayed mapped.</summary>
    public bool ReleaseAllAndCheckNothingLeaks()
    {
        for (int i = 0; i < Pieces.Count; i++)
        {
            for (; Held[i] > 0; Held[i]--)
            {
                NativePages.Put(Pieces[i].Piece);
            }
        }

        Allocator.Dispose();
        return Source.BytesMapped == 0 && Runs.PendingUnmaps == 0 && Allocator.GetOutstandingFragments().Count == 0;
    }

    public override string ToString() => $"{Pieces.Count} pieces, {Refused} refused";

    /// <summary>Runs an operation the user expects the library to refuse, and counts the refusal.</summary>
    public void Refuse(Action operation)
    {
        try
        {
            operation();
        }
        catch (InvalidOperationException)
        {
            Refused++;                                        // ObjectDisposedException is one too
        }
    }
}
