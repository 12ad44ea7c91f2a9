using System;
using System.Linq;
using BenchmarkDotNet.Running;
using NativeZcopy.Bench.Memory;
using NativeZcopy.Bench.Paired;
using NativeZcopy.Bench.Reporting;
using NativeZcopy.Bench.Scenarios;

namespace NativeZcopy.Bench;

/// <summary>
/// The suite's entry point. No arguments: the short side-by-side table (scenarios 1, 2, 5), then issue 6's
/// targets timed in pairs, in about two and a half minutes. <c>targets</c>: the paired targets alone.
/// <c>memory</c>: scenario 7. <c>full</c>: every benchmark class in this assembly, then scenario 7 and the
/// paired targets, the run docs/benchmarks.md reports. Anything else goes to BenchmarkDotNet (for example
/// <c>--filter '*Scenario1*'</c>), over every benchmark class of this assembly, so classes added in new
/// files are found without touching this one.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            int shortRun = ShortRun.Run();
            return PairedTargetsRun.Run() | shortRun;
        }

        if (args[0] == "targets")
        {
            return PairedTargetsRun.Run(args[1..]);
        }

        if (args[0] == PairedTargetsRun.LaunchArgument)
        {
            return PairedTargetsRun.RunLaunch(args[1..]);
        }

        if (args[0] == "memory")
        {
            return MixedLifetimeMemory.Run();
        }

        if (args[0] == "full")
        {
            // Only "full" alone draws the docs' charts: with a filter or other options it may run some rows only.
            SuiteMode.IsFullRun = args.Length == 1;
            RunBenchmarks(["--filter", "*", .. args.Skip(1)]);
            int memory = MixedLifetimeMemory.RunInFreshProcess();
            return PairedTargetsRun.Run() | memory;
        }

        RunBenchmarks(args);
        return 0;
    }

    private static void RunBenchmarks(string[] args) =>
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, SuiteConfigs.Full());
}
