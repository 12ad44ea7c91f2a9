namespace NativeZcopy.Bench.Scenarios;

/// <summary>
/// Whether this process runs the short default suite. Scenarios read it to pick fewer sizes; it is set only
/// by the in-process short run, so a full run (one process per benchmark) always sees the full lists.
/// </summary>
internal static class SuiteMode
{
    /// <summary>True in the short default run. Written once before any benchmark starts.</summary>
    public static bool IsShort { get; set; }

    /// <summary>
    /// True in the full run (<c>-- full</c>), the only run whose charts go to <c>docs/</c>: a filtered run
    /// has some of a scenario's rows only, and drew them over the full run's charts. Written once before any
    /// benchmark starts; read by the host process's exporter.
    /// </summary>
    public static bool IsFullRun { get; set; }
}
