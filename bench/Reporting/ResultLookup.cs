using System;
using System.Linq;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using NativeZcopy.Bench.Systems;

namespace NativeZcopy.Bench.Reporting;

/// <summary>How the suite reads a summary: medians, allocations, system names and the NativeZcopy reference.</summary>
internal static class ResultLookup
{
    /// <summary>
    /// The benchmark method every ratio is taken against (with the first <see cref="ZcopyVariant"/>). Not
    /// "NativeZcopy": BenchmarkDotNet's generated runner derives from the benchmark class and names the
    /// argument's type from the root namespace, which a method of that name would shadow.
    /// </summary>
    public const string ReferenceMethod = "ZcopyAllocator";

    /// <summary>The median ns per operation, or null when the case did not run.</summary>
    public static double? MedianNs(BenchmarkReport report) => report.ResultStatistics?.Median;

    /// <summary>Managed bytes allocated per operation, or null when not measured.</summary>
    public static long? AllocatedBytes(BenchmarkReport report) => report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase);

    /// <summary>The system a case measures: its method name ("NativeZcopy" for the reference), plus the variant when it has one.</summary>
    public static string SystemName(BenchmarkCase benchmarkCase)
    {
        string method = benchmarkCase.Descriptor.WorkloadMethod.Name;
        method = method == ReferenceMethod ? "NativeZcopy" : method;
        object? variant = benchmarkCase.Parameters.Items.FirstOrDefault(p => p.IsArgument)?.Value;
        return variant is null ? method : $"{method} ({variant})";
    }

    /// <summary>
    /// The NativeZcopy case (first variant) of the same class, job and parameters as <paramref name="benchmarkCase"/>,
    /// or null when the class has none.
    /// </summary>
    public static BenchmarkReport? Reference(Summary summary, BenchmarkCase benchmarkCase)
    {
        string parameters = ParameterKey(benchmarkCase);
        return summary.Reports.FirstOrDefault(r =>
            r.BenchmarkCase.Descriptor.Type == benchmarkCase.Descriptor.Type
            && r.BenchmarkCase.Descriptor.WorkloadMethod.Name == ReferenceMethod
            && string.Equals(r.BenchmarkCase.Parameters.Items.FirstOrDefault(p => p.IsArgument)?.Value?.ToString(), ZcopyVariant.All[0].Name, StringComparison.Ordinal)
            && r.BenchmarkCase.Job.DisplayInfo == benchmarkCase.Job.DisplayInfo
            && ParameterKey(r.BenchmarkCase) == parameters);
    }

    /// <summary>Median of <paramref name="report"/> over the median of its NativeZcopy reference, or null.</summary>
    public static double? RatioToReference(Summary summary, BenchmarkReport report)
    {
        double? reference = Reference(summary, report.BenchmarkCase) is { } found ? MedianNs(found) : null;
        double? own = MedianNs(report);
        return reference is > 0 && own is not null ? own / reference : null;
    }

    /// <summary>The class's [Params] values (not the method's arguments), as one comparable string.</summary>
    private static string ParameterKey(BenchmarkCase benchmarkCase) =>
        string.Join(';', benchmarkCase.Parameters.Items.Where(p => !p.IsArgument).Select(p => $"{p.Name}={p.Value}"));
}
