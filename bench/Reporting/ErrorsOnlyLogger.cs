using BenchmarkDotNet.Loggers;

namespace NativeZcopy.Bench.Reporting;

/// <summary>Passes on errors only, so the short run prints its one table and any failure, nothing else.</summary>
internal sealed class ErrorsOnlyLogger(ILogger inner) : ILogger
{
    public string Id => nameof(ErrorsOnlyLogger);

    public int Priority => 0;

    public void Write(LogKind logKind, string text)
    {
        if (logKind == LogKind.Error)
        {
            inner.Write(logKind, text);
        }
    }

    public void WriteLine() => inner.Flush();

    public void WriteLine(LogKind logKind, string text)
    {
        if (logKind == LogKind.Error)
        {
            inner.WriteLine(logKind, text);
        }
    }

    public void Flush() => inner.Flush();
}
