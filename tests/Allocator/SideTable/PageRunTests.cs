using System.Runtime.CompilerServices;
using NativeZcopy.SideTable;
using Xunit;

namespace NativeZcopy.Tests.Allocator.SideTable;

public sealed class PageRunTests
{
    [Fact]
    public void A_descriptor_fills_one_cache_line_so_neighbouring_counts_never_share_one()
    {
        // The runtime is free to ignore a declared size (it did, for a sequential layout holding a
        // reference), so the stride the descriptor chunks really have is checked here.
        Assert.Equal(64, Unsafe.SizeOf<PageRun>());

        var chunk = new PageRun[2];
        nint stride = Unsafe.ByteOffset(ref chunk[0].State, ref chunk[1].State);
        Assert.Equal(64, (int)stride);
    }
}
