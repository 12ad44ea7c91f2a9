using System;
using Xunit;

namespace NativeZcopy.Tests.Allocator;

public sealed class BioVecTests
{
    [Fact]
    public void Address_is_page_plus_offset_and_span_covers_exactly_the_piece()
    {
        BioVec run = NativePages.Alloc(100);
        try
        {
            BioVec slice = run.Slice(10, 20);
            Assert.Equal(run.Page, slice.Page);
            Assert.Equal(10, slice.Offset);
            Assert.Equal(20, slice.Length);
            Assert.Equal(run.Page + 10, slice.Address);
            slice.AsSpan().Fill(7);
            Assert.Equal(20, run.AsSpan().Count((byte)7));
            Assert.Equal(0, run.AsSpan()[9]);
            Assert.Equal(0, run.AsSpan()[30]);
        }
        finally
        {
            NativePages.Put(run);
        }
    }

    [Theory]
    [InlineData(-1, 1, "start")]
    [InlineData(0, 101, "length")]
    [InlineData(90, 11, "length")]
    [InlineData(3, -7, "length")]
    [InlineData(101, 0, "start")]
    public void Slice_outside_the_piece_is_refused_naming_the_parameter_at_fault_with_the_range_in_the_message(int start, int length, string paramName)
    {
        BioVec run = NativePages.Alloc(100);
        try
        {
            var error = Assert.Throws<ArgumentOutOfRangeException>(() => run.Slice(start, length));
            Assert.Contains($"Slice({start}, {length})", error.Message, StringComparison.Ordinal);
            Assert.Equal(paramName, error.ParamName);
            Assert.Equal(paramName == "start" ? start : length, error.ActualValue);
        }
        finally
        {
            NativePages.Put(run);
        }
    }

    [Fact]
    public void Default_is_empty_and_equality_covers_every_field()
    {
        Assert.True(default(BioVec).IsEmpty);
        BioVec run = NativePages.Alloc(64);
        try
        {
            Assert.False(run.IsEmpty);
            Assert.Equal(run, run.Slice(0, 64));
            Assert.NotEqual(run, run.Slice(0, 63));
            Assert.True(run != run.Slice(1, 63));
            Assert.Equal(run.GetHashCode(), run.Slice(0, 64).GetHashCode());
        }
        finally
        {
            NativePages.Put(run);
        }
    }
}
