using System;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading.Tasks;
using System.Xml.Linq;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Packaging;

/// <summary>
/// The project file says <c>IsAotCompatible</c>: a console app that references the library this test run
/// built is published as NativeAOT, with no trim or AOT warning from the library or from Mono.Posix.NETStandard,
/// and run: its Mono.Posix native helper is found next to the binary, pages map and unmap, and a tracked
/// fragment's allocation stack starts at the allocator, as it does under the JIT (NativeAOT's stack frames
/// carry no reflection method, and the stack once kept the tracker's and the arena's frames on top).
/// </summary>
public sealed class NativeAotPublishTests : IDisposable
{
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("nativezcopy-aot-");

    [Fact]
    public async Task The_library_publishes_as_NativeAOT_without_warnings_and_runs()
    {
        // NativeAOT links with the system's C toolchain, as ILC's Unix targets look for it: clang, else gcc, and
        // objcopy to strip symbols (llvm-objcopy will do with clang). Without one the publish fails deep in them.
        bool toolchain = (OnPath("clang") && (OnPath("llvm-objcopy") || OnPath("objcopy"))) || (OnPath("gcc") && OnPath("objcopy"));
        Assert.True(toolchain, "NativeAOT needs clang or gcc and objcopy on PATH; .ci/run installs gcc and binutils with apt-get when run as root.");

        string app = Directory.CreateDirectory(Path.Combine(_work.FullName, "app")).FullName;
        WriteConsumer(app);
        string bin = Path.Combine(_work.FullName, "bin");
        string warnings = Path.Combine(_work.FullName, "warnings.log");

        // The machine's own runtime identifier: the binary is run here. Warnings go to a log of their own,
        // since the console output the CLI helper returns is only its tail.
        await DotnetCli.RunAsync(
            app, TimeSpan.FromMinutes(8), "publish", "--configuration", "Release", "--runtime", RuntimeInformation.RuntimeIdentifier,
            "--output", bin, "-nodeReuse:false", "-p:DisableTransitiveFrameworkReferenceDownloads=true",
            "-fileLogger", $"-fileLoggerParameters:LogFile={warnings};WarningsOnly");

        // ILC's warnings (IL2xxx trimming, IL3xxx AOT) for the library or its dependency.
        Assert.DoesNotContain(File.ReadAllLines(warnings), line => line.Contains("warning IL", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(bin, "libMonoPosixHelper.so")), "Mono.Posix's native helper is published next to the binary");
        Assert.False(File.Exists(Path.Combine(bin, "ZcopyAotConsumer.dll")), "a native binary, not an IL one");

        string output = await RunBinary(Path.Combine(bin, "ZcopyAotConsumer"));
        Assert.Contains("NativeZcopy AOT consumer OK", output, StringComparison.Ordinal);

        // Without the helper (an Alpine or zlib-less image): the native binary binds it lazily too, and maps
        // its pages through libc instead.
        File.Delete(Path.Combine(bin, "libMonoPosixHelper.so"));
        output = await RunBinary(Path.Combine(bin, "ZcopyAotConsumer"));
        Assert.Contains("NativeZcopy AOT consumer OK", output, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        try
        {
            _work.Delete(recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder is harmless and must not hide the test's own result.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }
    }

    /// <summary>True when an executable named <paramref name="tool"/> is in a folder of PATH.</summary>
    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(folder => File.Exists(Path.Combine(folder, tool)));

    private static async Task<string> RunBinary(string path)
    {
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
        string text = await output + await errors;
        Assert.True(process.ExitCode == 0, $"{path} exited {process.ExitCode}:\n{text}");
        return text;
    }

    /// <summary>
    /// A NativeAOT console app referencing the library assembly under test, and Mono.Posix.NETStandard at the
    /// repository's version (its native helper comes from the package, as for a package consumer).
    /// </summary>
    private static void WriteConsumer(string app)
    {
        string library = typeof(ZcopyAllocator).Assembly.Location;
        string posixVersion = XDocument.Load(Path.Combine(RepositoryFolder.Root(), "Directory.Packages.props"))
            .Descendants("PackageVersion")
            .Single(p => (string?)p.Attribute("Include") == "Mono.Posix.NETStandard")
            .Attribute("Version")!.Value;
        File.WriteAllText(Path.Combine(app, "ZcopyAotConsumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <PublishAot>true</PublishAot>
                <InvariantGlobalization>true</InvariantGlobalization>
                <TrimmerSingleWarn>false</TrimmerSingleWarn>
              </PropertyGroup>
              <ItemGroup>
                <Reference Include="NativeZcopy" HintPath="{library}" />
                <PackageReference Include="Mono.Posix.NETStandard" Version="{posixVersion}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using System.Runtime.CompilerServices;
            using NativeZcopy;

            using var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { TrackFragments = true, LeakReportAge = Timeout.InfiniteTimeSpan });
            BioVec piece = Cut(allocator);
            piece.AsSpan().Fill(0x42);
            BioVec run = NativePages.Alloc(1 << 20);
            run.AsSpan()[^1] = 7;
            string stack = allocator.GetOutstandingFragments().Single().AllocationStackTrace;
            Console.WriteLine(stack);
            string first = stack.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[0];
            bool ok = first.Contains("ZcopyAllocator.", StringComparison.Ordinal)
                && stack.Contains(nameof(Cut), StringComparison.Ordinal)
                && !stack.Contains("NativeZcopy.Diagnostics.", StringComparison.Ordinal)
                && !stack.Contains("NativeZcopy.Arenas.", StringComparison.Ordinal)
                && NativePages.RefCount(run.Address) == 1;
            NativePages.Put(piece);
            NativePages.Put(run);
            Console.WriteLine(ok ? "NativeZcopy AOT consumer OK" : $"NativeZcopy AOT consumer FAILED: first frame {first}");
            return ok ? 0 : 1;

            [MethodImpl(MethodImplOptions.NoInlining)]
            static BioVec Cut(ZcopyAllocator allocator) => allocator.Alloc(100);
            """);
    }
}
