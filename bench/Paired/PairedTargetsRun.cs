using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;

namespace NativeZcopy.Bench.Paired;

/// <summary>
/// <c>-- targets</c>, and the end of the short and full runs: issue 6's targets measured by
/// <see cref="PairedRunner"/> in <see cref="Launches"/> fresh processes, one table of ratios and verdicts.
/// </summary>
/// <remarks>
/// One process is not enough: some rows settle into a mode for a whole process (scenario 3's releasing thread
/// a folio behind, at 140 ns a piece against 13; the two-thread and pair rows 2x-7x slower), however tightly
/// its rounds agree with each other (docs/benchmarks.md, step 54). Each launch runs every target once and
/// prints one machine-readable line per target; this process reads them and prints the table.
/// </remarks>
internal static class PairedTargetsRun
{
    /// <summary>
    /// Fresh processes per run: three show whether a row's verdict holds from process to process, in about
    /// 30 s for all eight targets (a launch measures each for about a second, plus its warm-up).
    /// </summary>
    private const int Launches = 3;

    /// <summary>The argument that makes a process one launch (<see cref="RunLaunch"/>), not the table's parent.</summary>
    public const string LaunchArgument = "targets-launch";

    /// <summary>
    /// How long a launch may take in all: it takes about 10 s for every target (each measured for 1-4 s with its
    /// warm-up), so five minutes leaves room for a slow host yet stops a hung launch from hanging the table.
    /// </summary>
    private static readonly TimeSpan LaunchTimeout = TimeSpan.FromMinutes(5);

    /// <summary>Prefix of a launch's result lines.</summary>
    private const string ResultPrefix = "paired-result|";

    /// <summary>
    /// Runs <see cref="Launches"/> launches measuring the targets whose label starts with one of
    /// <paramref name="scenarios"/> (a scenario's number, as <c>-- targets 2 4</c>), or every target when
    /// none is given, and prints the table. Returns the process exit code.
    /// </summary>
    public static int Run(params string[] scenarios)
    {
        foreach (string scenario in scenarios)
        {
            if (!IssueSixTargets.Scenarios.Contains(scenario))
            {
                Console.WriteLine($"'{scenario}' is not a scenario with a target; give some of: {string.Join(' ', IssueSixTargets.Scenarios)}.");
                return 1;
            }
        }

        Console.WriteLine();
        Console.WriteLine($"Issue 6's targets, each side timed in turn in one process, {Launches} processes (docs/benchmarks.md, step 54).");
        var watch = Stopwatch.StartNew();
        var launches = new List<Dictionary<string, string[]>>();
        for (int launch = 0; launch < Launches; launch++)
        {
            Dictionary<string, string[]>? results = Launch(scenarios);
            if (results is null)
            {
                break;
            }

            launches.Add(results);
        }

        if (launches.Count == 0)
        {
            return 1;
        }

        Console.WriteLine($"{"Target",-42} {"ours ns",8} {"peer ns",8} {"ratio in each process",24}  Met?");
        Console.WriteLine(new string('-', 100));
        foreach (string target in launches[0].Keys)
        {
            string[][] rows = [.. launches.Select(l => l[target])];
            double bound = Parse(rows[0][1]);
            double ours = Median(rows.Select(r => Parse(r[2])));
            double peer = Median(rows.Select(r => Parse(r[3])));
            string ratios = string.Join(" ", rows.Select(r => r[4]));
            bool anyWithin = rows.Any(r => Parse(r[6]) <= bound);
            bool anyOver = rows.Any(r => Parse(r[5]) > bound);
            string verdict =
                rows.All(r => Parse(r[6]) <= bound) ? "yes" :
                rows.All(r => Parse(r[5]) > bound) ? "no" :
                anyWithin && anyOver ? "varies" :
                "on the bound";
            double allocated = rows.Max(r => Parse(r[7]));
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"{target,-42} {ours,8:0.00} {peer,8:0.00} {ratios,24}  {verdict}{(allocated != 0 ? $"  ({allocated:0.#} B/op)" : string.Empty)}"));
        }

        Console.WriteLine(new string('-', 100));
        if (launches.Count < Launches)
        {
            Console.WriteLine($"Only {launches.Count} of {Launches} processes gave results; the table is theirs.");
        }

        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"ns: median over the processes of each one's median per op; ratio: the median of a process's rounds (ours over the peer's, two samples of ~2 ms a round); yes / no: every process's 95% interval within / over the bound; varies: some within, some over; on the bound: the rest; {watch.Elapsed.TotalSeconds:0} s"));
        return launches.Count == Launches ? 0 : 1;
    }

    /// <summary>
    /// One launch: measures the targets <paramref name="scenarios"/> selects and prints a result line each,
    /// fields separated by '|': label, bound, ours ns, peer ns, ratio, interval low, interval high, B/op.
    /// </summary>
    public static int RunLaunch(params string[] scenarios)
    {
        using var targets = new IssueSixTargets();
        foreach (PairedComparison comparison in targets.Comparisons())
        {
            if (scenarios.Length > 0 && !Array.Exists(scenarios, s => comparison.Target.StartsWith(s + ":", StringComparison.Ordinal)))
            {
                continue;
            }

            PairedResult r = PairedRunner.Measure(comparison);
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"{ResultPrefix}{comparison.Target}|{comparison.Bound:R}|{r.OursNs:0.00}|{r.PeerNs:0.00}|{r.Ratio:0.00}|{r.RatioLow:R}|{r.RatioHigh:R}|{r.OursAllocatedPerOp:R}"));
        }

        return 0;
    }

    /// <summary>Runs one launch in a fresh process and returns its results by target, or null if it failed.</summary>
    private static Dictionary<string, string[]>? Launch(string[] scenarios)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false, RedirectStandardOutput = true };
        start.ArgumentList.Add(LaunchArgument);
        foreach (string scenario in scenarios)
        {
            start.ArgumentList.Add(scenario);
        }

        using Process child = Process.Start(start)!;

        // Read on the runtime's reader thread, so the wait below can time out while the launch is still
        // measuring (a read loop here would wait for its output forever).
        var lines = new List<string>();
        child.OutputDataReceived += (_, received) =>
        {
            if (received.Data is { } line)
            {
                lock (lines)
                {
                    lines.Add(line);
                }
            }
        };
        child.BeginOutputReadLine();
        if (!child.WaitForExit(LaunchTimeout))
        {
            child.Kill(entireProcessTree: true);
            Console.WriteLine($"A paired launch did not finish within {LaunchTimeout.TotalMinutes} minutes and was stopped.");
            return null;
        }

        child.WaitForExit(); // after the timed wait: returns once the reader has seen the end of the output
        var results = new Dictionary<string, string[]>();
        foreach (string line in lines)
        {
            if (line.StartsWith(ResultPrefix, StringComparison.Ordinal))
            {
                string[] fields = line[ResultPrefix.Length..].Split('|');
                results[fields[0]] = fields;
            }
            else
            {
                Console.WriteLine(line);
            }
        }

        if (child.ExitCode != 0 || results.Count == 0)
        {
            Console.WriteLine($"A paired launch failed (exit code {child.ExitCode}, {results.Count} results).");
            return null;
        }

        return results;
    }

    private static double Parse(string field) => double.Parse(field, CultureInfo.InvariantCulture);

    private static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
