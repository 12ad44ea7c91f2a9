using System;
using System.Buffers;
using NativeZcopy.Net;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Net;

public sealed class NativeMemoryManagerTests
{
    [Theory]
    [InlineData(-1)]
    [InlineData(101)]
    public void Pin_outside_the_range_names_the_index_as_given(int index)
    {
        BioVec run = NativePages.Alloc(100);
        try
        {
            var manager = new NativeMemoryManager();
            manager.Reset(run.Address, run.Length);

            var error = Assert.Throws<ArgumentOutOfRangeException>(() => manager.Pin(index));

            Assert.Equal(index, error.ActualValue);
            Assert.Contains(index.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
            using MemoryHandle end = manager.Pin(run.Length); // one past the last byte is a valid pin, as for arrays
        }
        finally
        {
            NativePages.Put(run);
        }
    }
}
