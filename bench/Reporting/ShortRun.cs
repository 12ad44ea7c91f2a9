using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using NativeZcopy.Bench.Scenarios;

namespace NativeZcopy.Bench.Reporting;

/// <summary>
/// The main command with no arguments: a short version of scenarios 1, 2 and 5 (two sizes each), every
/// benchmark in this process, and one table of ns per piece with the ratio to NativeZcopy.
/// </summary>
internal static class ShortRun
{
    private static readonly (Type Type, string Label)[] s_scenarios =
    [
        (typeof(Scenario1Pairs), "1 pairs"),
        (typeof(Scenario2Batches), "2 batches of 1000"),
        (typeof(Scenario5MemDup), "5 MemDup"),
    ];

    /// <summary>Runs the short suite and prints its table. Returns the process exit code.</summary>
    public static int Run()
    {
        SuiteMode.IsShort = true;
        Console.WriteLine("NativeZcopy side by side, short run: scenarios 1, 2 and 5, in-process, 5 x 100 ms per benchmark.");
        Console.WriteLine("Full suite: dotnet run -c Release --project bench -- full   (see docs/benchmarks.md)");
        var watch = Stopwatch.StartNew();
        Summary[] summaries = BenchmarkRunner.Run(s_scenarios.Select(s => s.Type).ToArray(), SuiteConfigs.Short());
        Console.WriteLine();
        Console.WriteLine($"{"Scenario",-18} {"Size",5}  {"System",-32} {"ns/op",9} {"vs NativeZcopy",15} {"alloc B/op",11}");
        Console.WriteLine(new string('-', 95));
        int failed = 0;
        foreach ((Type type, string label) in s_scenarios)
        {
            Summary? summary = summaries.FirstOrDefault(s => s.BenchmarksCases.Any(c => c.Descriptor.Type == type));
            if (summary is null)
            {
                Console.WriteLine($"{label,-18} did not run");
                failed++;
                continue;
            }

            foreach (BenchmarkReport report in summary.Reports
                .OrderBy(r => Convert.ToInt32(r.BenchmarkCase.Parameters["Size"], CultureInfo.InvariantCulture))
                .ThenBy(r => r.BenchmarkCase.Descriptor.WorkloadMethod.Name == ResultLookup.ReferenceMethod ? 0 : 1))
            {
                string size = Convert.ToString(report.BenchmarkCase.Parameters["Size"], CultureInfo.InvariantCulture) ?? "?";
                string system = ResultLookup.SystemName(report.BenchmarkCase);
                double? median = ResultLookup.MedianNs(report);
                double? ratio = ResultLookup.RatioToReference(summary, report);
                long? allocated = ResultLookup.AllocatedBytes(report);
                failed += median is null ? 1 : 0;
                Console.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{label,-18} {size,5}  {system,-32} {(median is { } m ? m.ToString("0.0", CultureInfo.InvariantCulture) : "failed"),9} {(ratio is { } r ? r.ToString("0.00", CultureInfo.InvariantCulture) : "-"),15} {(allocated is { } a ? a.ToString(CultureInfo.InvariantCulture) : "-"),11}"));
            }
        }

        Console.WriteLine(new string('-', 95));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"medians of 5 iterations; vs NativeZcopy < 1 means faster than NativeZcopy; {watch.Elapsed.TotalSeconds:0} s"));
        return failed == 0 ? 0 : 1;
    }
}
