using System.Collections.Generic;

namespace NativeZcopy.Tests.Allocator.Model;

/// <summary>
/// The reference model: what a user holds, how many references each holder has, what bytes each piece
/// must still contain, and how many operations the library must have refused.
/// </summary>
internal sealed class HeapModel
{
    /// <summary>Every piece ever handed out, in order, released ones included (they stay to be released again).</summary>
    public List<ModelPiece> Pieces { get; } = [];

    /// <summary>Operations the library must refuse: a Get or Put of a released piece, an Alloc after Dispose.</summary>
    public int Refused { get; set; }

    /// <summary>True once the allocator was disposed.</summary>
    public bool Disposed { get; set; }

    /// <summary>Allocator pieces handed out (not page runs).</summary>
    public int Fragments { get; set; }

    public override string ToString() => $"{Pieces.Count} pieces, {Refused} refused, disposed {Disposed}";
}
