using System;
using System.Collections;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading.Tasks;
using Xunit;

namespace NativeZcopy.Tests.Support;

/// <summary>
/// Runs the <c>dotnet</c> CLI from a test: the same host that runs the tests, a clean environment, a time
/// limit that kills the whole process tree, and the full output in the failure message.
/// </summary>
internal static class DotnetCli
{
    /// <summary>The dotnet host running this process (the CLI sets DOTNET_HOST_PATH), else the one on PATH.</summary>
    public static string HostPath { get; } =
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
        : Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath!
        : "dotnet";

    /// <summary>Runs <c>dotnet</c> with <paramref name="arguments"/> and fails the test unless it exits 0 in time.</summary>
    /// <returns>What it wrote to standard output.</returns>
    public static async Task<string> RunAsync(string workingDirectory, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo(HostPath)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // `dotnet test` leaves MSBuild settings in the test host's environment that would steer a nested
        // build to the outer one's SDK state; a child build must start from the machine's defaults.
        foreach (DictionaryEntry variable in Environment.GetEnvironmentVariables())
        {
            string name = (string)variable.Key;
            if (name.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || name.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase))
            {
                start.Environment.Remove(name);
            }
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        start.Environment["DOTNET_CLI_UI_LANGUAGE"] = "en";

        using var process = new Process { StartInfo = start };
        var output = new StringBuilder();
        var errors = new StringBuilder();
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(errors, e.Data);
        var watch = Stopwatch.StartNew();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        bool exited = true;
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            exited = false;
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        // The parameterless wait also drains the redirected streams.
        process.WaitForExit();
        string command = $"dotnet {string.Join(' ', arguments)} (in {workingDirectory})";
        string report = $"{command}\n{(exited ? $"exit code {process.ExitCode}" : $"killed after {timeout}")} after {watch.Elapsed}\n" +
            $"--- stdout ---\n{Tail(output)}\n--- stderr ---\n{Tail(errors)}";
        Assert.True(exited && process.ExitCode == 0, report);
        return Tail(output);
    }

    private static void Append(StringBuilder to, string? line)
    {
        if (line is not null)
        {
            lock (to)
            {
                to.AppendLine(line);
            }
        }
    }

    /// <summary>The end of what a process wrote: where a build or a crash says what went wrong.</summary>
    private static string Tail(StringBuilder text)
    {
        lock (text)
        {
            const int Keep = 8000;
            return text.Length <= Keep ? text.ToString() : "..." + text.ToString(text.Length - Keep, Keep);
        }
    }
}
