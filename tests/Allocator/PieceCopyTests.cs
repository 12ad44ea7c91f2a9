using System;
using Xunit;

namespace NativeZcopy.Tests.Allocator;

/// <summary>
/// <see cref="PieceCopy"/>: every length around the wide loop's edges (one vector, four, the tail that
/// overlaps bytes already copied, the bound where it hands over to the runtime's copy), at offsets that split
/// lines, copies exactly the source and writes nothing outside the destination; overlapping ranges get the
/// runtime's overlap-safe copy. On a machine without 64-byte vectors these exercise the runtime's copy only.
/// </summary>
public sealed unsafe class PieceCopyTests
{
    /// <summary>Bytes checked on each side of the destination, more than one vector.</summary>
    private const int Guard = 96;

    private const byte GuardByte = 0xA5;

    public static TheoryData<int, int, int> LengthsAndOffsets()
    {
        var data = new TheoryData<int, int, int>();
        int[] lengths = [0, 1, 63, 64, 65, 127, 128, 200, 255, 256, 257, 319, 320, 1000, 1024, 4095, 16 * 1024, (16 * 1024) + 1, 40000];
        foreach (int length in lengths)
        {
            data.Add(length, 0, 0);
            data.Add(length, 8, 40);
            data.Add(length, 63, 1);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(LengthsAndOffsets))]
    public void Copies_exactly_the_source_and_nothing_around_it(int length, int sourceOffset, int destinationOffset)
    {
        byte[] source = new byte[sourceOffset + length];
        new Random(length + sourceOffset).NextBytes(source);
        byte[] destination = new byte[Guard + destinationOffset + length + Guard];
        destination.AsSpan().Fill(GuardByte);

        fixed (byte* to = destination)
        {
            PieceCopy.Copy(source.AsSpan(sourceOffset, length), (nint)(to + Guard + destinationOffset));
        }

        Assert.True(destination.AsSpan(Guard + destinationOffset, length).SequenceEqual(source.AsSpan(sourceOffset)));
        Assert.Equal(-1, destination.AsSpan(0, Guard + destinationOffset).IndexOfAnyExcept(GuardByte));
        Assert.Equal(-1, destination.AsSpan(Guard + destinationOffset + length).IndexOfAnyExcept(GuardByte));
    }

    [Theory]
    [InlineData(1000, 8)]
    [InlineData(1000, -8)]
    [InlineData(1000, 600)]
    [InlineData(1000, -600)]
    [InlineData(64, 1)]
    public void Overlapping_ranges_copy_as_memmove_does(int length, int shift)
    {
        // A source overlapping the new piece can only be a stale span over released bytes; the result must
        // still be the source's bytes as they were, which the wide loop's overlapping tail would not give.
        byte[] buffer = new byte[length + (2 * Math.Abs(shift)) + 64];
        new Random(length ^ shift).NextBytes(buffer);
        int from = Math.Abs(shift);
        byte[] expected = buffer.AsSpan(from, length).ToArray();

        fixed (byte* start = buffer)
        {
            PieceCopy.Copy(buffer.AsSpan(from, length), (nint)(start + from + shift));
        }

        Assert.True(buffer.AsSpan(from + shift, length).SequenceEqual(expected));
    }
}
