using System;

namespace NativeZcopy.Bench.Reporting;

/// <summary>
/// Marks a benchmark class whose results <see cref="SvgChartExporter"/> draws: ns/op by fragment size (its
/// <c>Size</c> parameter), one line per system.
/// </summary>
/// <param name="fileName">The chart's file name under docs/, without extension.</param>
/// <param name="title">The chart's title.</param>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class ChartedScenarioAttribute(string fileName, string title) : Attribute
{
    /// <summary>The chart's file name under docs/, without extension.</summary>
    public string FileName { get; } = fileName;

    /// <summary>The chart's title.</summary>
    public string Title { get; } = title;
}
