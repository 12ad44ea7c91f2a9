using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;

using NativeZcopy.Bench.Scenarios;

namespace NativeZcopy.Bench.Reporting;

/// <summary>
/// Draws ns/op by fragment size, one line per system, for every class marked
/// <see cref="ChartedScenarioAttribute"/>, as a self-contained SVG under docs/ (or the results folder when
/// run outside the repository). Both axes are logarithmic: sizes are powers of two and costs span from the
/// bump-pointer floor to pinned-heap arrays.
/// </summary>
internal sealed class SvgChartExporter : IExporter
{
    // Wide enough for the longest legend entry, "NativeZcopy (unmap-on-release)", right of the plot.
    private const int Width = 930;
    private const int Height = 480;
    private const int Left = 70;
    private const int Right = 640;
    private const int Top = 40;
    private const int Bottom = 420;

    private static readonly string[] s_colors =
    [
        "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
        "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#aec7e8",
    ];

    public string Name => "svg-chart";

    public void ExportToLog(Summary summary, ILogger logger)
    {
    }

    public IEnumerable<string> ExportToFiles(Summary summary, ILogger consoleLogger)
    {
        var written = new List<string>();
        foreach (Type type in summary.BenchmarksCases.Select(c => c.Descriptor.Type).Distinct())
        {
            if (type.GetCustomAttribute<ChartedScenarioAttribute>() is not { } chart)
            {
                continue;
            }

            // system -> size -> median ns/op
            var series = new SortedDictionary<string, SortedDictionary<int, double>>(StringComparer.Ordinal);
            foreach (BenchmarkReport report in summary.Reports.Where(r => r.BenchmarkCase.Descriptor.Type == type))
            {
                object? size = report.BenchmarkCase.Parameters.Items.FirstOrDefault(p => p.Name == "Size")?.Value;
                if (size is int bytes && ResultLookup.MedianNs(report) is { } median)
                {
                    string system = ResultLookup.SystemName(report.BenchmarkCase);
                    if (!series.TryGetValue(system, out SortedDictionary<int, double>? points))
                    {
                        series[system] = points = [];
                    }

                    points[bytes] = median;
                }
            }

            if (series.Count == 0)
            {
                continue;
            }

            // Only the full run draws the charts docs/benchmarks.md shows; any other run's go to its results.
            string directory = (SuiteMode.IsFullRun ? RepositoryPaths.DocsDirectory() : null) ?? summary.ResultsDirectoryPath;
            Directory.CreateDirectory(directory);
            string path = Path.Combine(directory, chart.FileName + ".svg");
            File.WriteAllText(path, Draw(chart.Title, series));
            consoleLogger.WriteLineInfo($"chart: {path}");
            written.Add(path);
        }

        return written;
    }

    private static string Draw(string title, SortedDictionary<string, SortedDictionary<int, double>> series)
    {
        int[] sizes = series.Values.SelectMany(p => p.Keys).Distinct().Order().ToArray();
        double[] values = series.Values.SelectMany(p => p.Values).Where(v => v > 0).ToArray();
        double minLog = Math.Floor(Math.Log10(values.Min()));
        double maxLog = Math.Ceiling(Math.Log10(values.Max()));
        if (maxLog <= minLog)
        {
            maxLog = minLog + 1;
        }

        double minSizeLog = Math.Log2(sizes[0]);
        double sizeSpan = Math.Max(1, Math.Log2(sizes[^1]) - minSizeLog);
        double X(int size) => Left + ((Math.Log2(size) - minSizeLog) / sizeSpan * (Right - Left));
        double Y(double ns) => Bottom - ((Math.Log10(ns) - minLog) / (maxLog - minLog) * (Bottom - Top));
        static string F(double value) => value.ToString("0.#", CultureInfo.InvariantCulture);

        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{Escape(title)}</text>\n");

        // Horizontal grid at 1, 2 and 5 of every decade.
        for (double decade = minLog; decade < maxLog; decade++)
        {
            foreach (int step in new[] { 1, 2, 5 })
            {
                double ns = step * Math.Pow(10, decade);
                double y = Y(ns);
                string stroke = step == 1 ? "#bbbbbb" : "#eeeeee";
                svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{F(y)}\" x2=\"{Right}\" y2=\"{F(y)}\" stroke=\"{stroke}\"/>\n");
                svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 6}\" y=\"{F(y + 4)}\" text-anchor=\"end\">{ns.ToString("G4", CultureInfo.InvariantCulture)}</text>\n");
            }
        }

        foreach (int size in sizes)
        {
            double x = X(size);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{F(x)}\" y1=\"{Top}\" x2=\"{F(x)}\" y2=\"{Bottom}\" stroke=\"#eeeeee\"/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(x)}\" y=\"{Bottom + 18}\" text-anchor=\"middle\">{size} B</text>\n");
        }

        svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{Right - Left}\" height=\"{Bottom - Top}\" fill=\"none\" stroke=\"#555555\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{(Left + Right) / 2}\" y=\"{Bottom + 40}\" text-anchor=\"middle\">fragment size (log scale)</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text transform=\"translate(18 {(Top + Bottom) / 2}) rotate(-90)\" text-anchor=\"middle\">median ns per piece (log scale)</text>\n");

        int index = 0;
        foreach ((string system, SortedDictionary<int, double> points) in series)
        {
            string color = s_colors[index % s_colors.Length];
            bool isZcopy = system.StartsWith("NativeZcopy", StringComparison.Ordinal);
            string width = isZcopy ? "3" : "1.5";
            string path = string.Join(' ', points.Where(p => p.Value > 0).Select(p => $"{F(X(p.Key))},{F(Y(p.Value))}"));
            svg.Append(CultureInfo.InvariantCulture, $"<polyline points=\"{path}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"{width}\"/>\n");
            foreach ((int size, double ns) in points.Where(p => p.Value > 0))
            {
                svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{F(X(size))}\" cy=\"{F(Y(ns))}\" r=\"3\" fill=\"{color}\"/>\n");
            }

            int legendY = Top + 10 + (index * 20);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Right + 20}\" y1=\"{legendY}\" x2=\"{Right + 45}\" y2=\"{legendY}\" stroke=\"{color}\" stroke-width=\"{width}\"/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Right + 52}\" y=\"{legendY + 4}\">{Escape(system)}</text>\n");
            index++;
        }

        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static string Escape(string text) =>
        text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
}
