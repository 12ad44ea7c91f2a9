namespace NativeZcopy.Metrics;

/// <summary>
/// The statistics that only ever grow, which the metrics report as <c>ObservableCounter</c>s and so must never
/// report lower than before (see <see cref="NameSeries"/>).
/// </summary>
internal enum CumulativeCounter
{
    /// <summary><see cref="ZcopyStatistics.FoliosMapped"/>.</summary>
    FoliosMapped,

    /// <summary><see cref="ZcopyStatistics.FoliosUnmapped"/>.</summary>
    FoliosUnmapped,

    /// <summary><see cref="ZcopyStatistics.FoliosReusedInPlace"/>.</summary>
    FoliosReused,

    /// <summary><see cref="ZcopyStatistics.FragmentsAllocated"/>.</summary>
    FragmentsAllocated,

    /// <summary><see cref="ZcopyStatistics.FragmentsLeaked"/>.</summary>
    FragmentsLeaked,
}
