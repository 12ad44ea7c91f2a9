using System;
using System.Collections.Generic;
using System.Linq;
using Xunit;

namespace NativeZcopy.Tests.Support;

/// <summary>Checks on sets of pieces that several allocator tests share.</summary>
internal static class PieceAssert
{
    /// <summary>Fails if any two pieces share a byte.</summary>
    public static void Disjoint(IEnumerable<BioVec> pieces)
    {
        var ordered = pieces.OrderBy(p => p.Address).ToList();
        for (int i = 1; i < ordered.Count; i++)
        {
            Assert.True(ordered[i - 1].Address + ordered[i - 1].Length <= ordered[i].Address, $"{ordered[i - 1]} overlaps {ordered[i]}");
        }
    }

    /// <summary>Fails unless piece i holds only the byte value (byte)i, as tests fill them.</summary>
    public static void FilledWithIndex(IReadOnlyList<BioVec> pieces)
    {
        for (int i = 0; i < pieces.Count; i++)
        {
            Assert.True(pieces[i].AsSpan().IndexOfAnyExcept((byte)i) < 0, $"piece {i} was overwritten");
        }
    }
}
