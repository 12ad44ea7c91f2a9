using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using Perfolizer.Horology;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace NativeZcopy.Bench.Reporting;

/// <summary>The suite's two BenchmarkDotNet configurations. Both put MemoryDiagnoser on every benchmark.</summary>
internal static class SuiteConfigs
{
    /// <summary>
    /// Full runs (any command-line arguments): one process per benchmark, as BenchmarkDotNet usually does,
    /// with a job sized so the whole suite stays within about 25 minutes on a 2-core machine: 3 warm-up and
    /// 10 measured iterations of 150 ms each. Adds medians, the "vs NativeZcopy" column and the SVG charts.
    /// </summary>
    public static IConfig Full() =>
        ManualConfig.Create(DefaultConfig.Instance)
            .AddJob(Job.Default
                .WithWarmupCount(3)
                .WithIterationCount(10)
                .WithIterationTime(TimeInterval.FromMilliseconds(150))
                .WithId("Suite"))
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumn(StatisticColumn.Median, new VsNativeZcopyColumn())
            .AddExporter(new SvgChartExporter());

    /// <summary>
    /// The short default run: every benchmark inside this process (no per-benchmark project build), 2 warm-up
    /// and 5 measured iterations of 100 ms. BenchmarkDotNet's own output is kept to errors (its markdown
    /// reports still land in BenchmarkDotNet.Artifacts); the caller
    /// prints one table.
    /// </summary>
    public static IConfig Short() =>
        ManualConfig.CreateEmpty()
            .AddJob(Job.Default
                .WithToolchain(InProcessEmitToolchain.DontLogOutput)
                .WithWarmupCount(2)
                .WithIterationCount(5)
                .WithIterationTime(TimeInterval.FromMilliseconds(100))
                .WithId("Short"))
            .AddDiagnoser(MemoryDiagnoser.Default)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .AddExporter(MarkdownExporter.GitHub)
            .AddLogger(new ErrorsOnlyLogger(ConsoleLogger.Default));
}
