namespace NativeZcopy.Tests.Allocator.Model;

/// <summary>One piece in the model: its length, the byte it was filled with, its refs, and whether it is a page run.</summary>
internal sealed class ModelPiece(int length, byte fill, bool isRun)
{
    public int Length { get; } = length;

    public byte Fill { get; } = fill;

    public bool IsRun { get; } = isRun;

    public int Refs { get; set; } = 1;
}
