using NativeZcopy.Metrics;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Metrics;

/// <summary>
/// <see cref="NameSeries"/>'s arithmetic, the part a collection cannot be timed to show: between an
/// allocator's collection and its finalizer the live sum dips, and the series must not report the dip.
/// </summary>
public sealed class NameSeriesTests
{
    [Fact]
    public void A_counter_never_reports_below_its_last_report()
    {
        var series = new NameSeries("dip", kept: false);
        series.Join();
        series.Join();
        Assert.Equal(10, series.Report(CumulativeCounter.FragmentsAllocated, 10));

        // One of the two allocators was dropped from the table, its finalizer has not run yet: the sum dips to 4.
        Assert.Equal(10, series.Report(CumulativeCounter.FragmentsAllocated, 4));

        // The finalizer retires its final count, 7 (it cut one more piece after the first report).
        Assert.False(series.Leave(new ZcopyStatistics(FoliosMapped: 2, FoliosUnmapped: 0, FoliosReusedInPlace: 0, FragmentsAllocated: 7, FolioSize: 65536)));
        Assert.Equal(11, series.Report(CumulativeCounter.FragmentsAllocated, 4));
        Assert.Equal(3, series.Report(CumulativeCounter.FoliosMapped, 1));
        Assert.True(series.Leave(null), "the last member leaving must end the series");
    }

    [Fact]
    public void A_name_the_application_gave_keeps_its_series_with_no_member_left()
    {
        var series = new NameSeries("shard", kept: true);
        series.Join();
        Assert.False(series.Leave(null), "a kept series ended with its last member");
    }
}
