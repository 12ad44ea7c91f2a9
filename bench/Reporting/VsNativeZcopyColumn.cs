using System.Globalization;
using System.Linq;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace NativeZcopy.Bench.Reporting;

/// <summary>
/// "vs NativeZcopy": each case's median over the NativeZcopy median with the same parameters, in the same
/// run. BenchmarkDotNet's own Ratio column cannot do it, because NativeZcopy takes a per-method argument
/// (its variant) and a baseline must share every parameter with the cases it is compared with.
/// </summary>
internal sealed class VsNativeZcopyColumn : IColumn
{
    public string Id => nameof(VsNativeZcopyColumn);

    public string ColumnName => "vs NativeZcopy";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Median over NativeZcopy's median (first variant) with the same parameters, same run; < 1 is faster than NativeZcopy";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        BenchmarkReport? report = summary.Reports.FirstOrDefault(r => r.BenchmarkCase == benchmarkCase);
        double? ratio = report is null ? null : ResultLookup.RatioToReference(summary, report);
        return ratio is { } value ? value.ToString("0.00", CultureInfo.InvariantCulture) : "-";
    }

    public bool IsAvailable(Summary summary) =>
        summary.BenchmarksCases.Any(c => c.Descriptor.WorkloadMethod.Name == ResultLookup.ReferenceMethod);

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
}
