using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Threading.Tasks;
using System.Xml.Linq;
using NativeZcopy.Tests.Support;
using Xunit;

namespace NativeZcopy.Tests.Packaging;

/// <summary>
/// The NuGet package end to end: pack the library this test run built, check what the package says about
/// itself, then build and run a throwaway console app that references it from a local folder, the way a
/// consumer would, so that Mono.Posix.NETStandard and its native helper must arrive through the package.
/// </summary>
public sealed class NuGetPackageTests : IDisposable
{
    /// <summary>The configuration this test assembly, and so the library it references, was built in.</summary>
#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    /// <summary>Everything the test writes, removed afterwards.</summary>
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("nativezcopy-package-");

    /// <summary>
    /// A version no earlier run used, so that NuGet's global package cache can never hand the app a stale
    /// copy of the library. Its cache folder is removed afterwards.
    /// </summary>
    private readonly string _version = $"0.0.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";

    [Fact]
    public async Task The_packed_library_restores_builds_and_runs_in_a_fresh_console_app()
    {
        string feed = Path.Combine(_work.FullName, "feed");
        await DotnetCli.RunAsync(
            _work.FullName,
            TimeSpan.FromMinutes(2),
            "pack", Path.Combine(RepositoryFolder.Root(), "src", "NativeZcopy.csproj"),
            "--configuration", Configuration,
            "--no-build",
            "--output", feed,
            $"-p:PackageVersion={_version}",
            $"-p:NuspecOutputPath={Path.Combine(_work.FullName, "nuspec")}/");

        CheckPackage(Path.Combine(feed, $"NativeZcopy.{_version}.nupkg"));
        CheckSymbols(Path.Combine(feed, $"NativeZcopy.{_version}.snupkg"));

        string app = Directory.CreateDirectory(Path.Combine(_work.FullName, "app")).FullName;
        WriteConsumer(app, feed);
        string bin = Path.Combine(_work.FullName, "bin");
        await DotnetCli.RunAsync(app, TimeSpan.FromMinutes(4), "build", "--configuration", "Release", "--output", bin, "-nodeReuse:false");

        // The native helper of Mono.Posix.NETStandard flowed through the package into the app's output.
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(bin, "runtimes"), "*MonoPosixHelper*", SearchOption.AllDirectories));

        string output = await DotnetCli.RunAsync(app, TimeSpan.FromMinutes(1), Path.Combine(bin, "ZcopyConsumer.dll"));
        Assert.Contains("NativeZcopy consumer OK", output, StringComparison.Ordinal);

        // As in an image without zlib, where the glibc-built helper does not load: without it the app still
        // runs, its pages mapped through libc directly (before, PageSource's type initializer threw
        // DllNotFoundException and every use failed). The app says whether a helper still loads (a system copy
        // would hide the libc path), looking where the runtime looks.
        Assert.Contains("helper loadable: True", output, StringComparison.Ordinal);
        foreach (string helper in Directory.GetFiles(bin, "*MonoPosixHelper*", SearchOption.AllDirectories))
        {
            File.Delete(helper);
        }

        output = await DotnetCli.RunAsync(app, TimeSpan.FromMinutes(1), Path.Combine(bin, "ZcopyConsumer.dll"));
        Assert.Contains("NativeZcopy consumer OK", output, StringComparison.Ordinal);
        Assert.Contains("helper loadable: False", output, StringComparison.Ordinal);

        // As on a Linux the package ships no assembly for (s390x, ppc64le, riscv64): the managed part gone too.
        foreach (string assembly in Directory.GetFiles(bin, "Mono.Posix.NETStandard.dll", SearchOption.AllDirectories))
        {
            File.Delete(assembly);
        }

        output = await DotnetCli.RunAsync(app, TimeSpan.FromMinutes(1), Path.Combine(bin, "ZcopyConsumer.dll"));
        Assert.Contains("NativeZcopy consumer OK", output, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        TryDelete(_work.FullName);
        string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } packages
            ? packages
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        TryDelete(Path.Combine(cache, "nativezcopy", _version));
        string versions = Path.Combine(cache, "nativezcopy");
        if (Directory.Exists(versions) && !Directory.EnumerateFileSystemEntries(versions).Any())
        {
            TryDelete(versions);
        }
    }

    /// <summary>The nuspec carries the license, readme, repository and dependency; the files are all there.</summary>
    private static void CheckPackage(string path)
    {
        using ZipArchive package = ZipFile.OpenRead(path);
        string[] files = [.. package.Entries.Select(e => e.FullName)];
        Assert.Contains("README.md", files);
        Assert.Contains("LICENSE", files);
        Assert.Contains("lib/net10.0/NativeZcopy.dll", files);
        Assert.Contains("lib/net10.0/NativeZcopy.xml", files);

        XDocument nuspec;
        using (Stream stream = package.GetEntry("NativeZcopy.nuspec")!.Open())
        {
            nuspec = XDocument.Load(stream);
        }

        XNamespace ns = nuspec.Root!.Name.Namespace;
        XElement metadata = nuspec.Root.Element(ns + "metadata")!;
        XElement license = metadata.Element(ns + "license")!;
        Assert.Equal("expression", (string?)license.Attribute("type"));
        Assert.Equal("MIT", license.Value);
        Assert.Equal("README.md", metadata.Element(ns + "readme")?.Value);
        Assert.Equal("The NativeZcopy developers", metadata.Element(ns + "authors")?.Value);
        XElement repository = metadata.Element(ns + "repository")!;
        Assert.Equal("git", (string?)repository.Attribute("type"));
        Assert.Matches("^[0-9a-f]{40}$", (string?)repository.Attribute("commit") ?? string.Empty);
        Assert.Contains(
            metadata.Descendants(ns + "dependency"),
            d => (string?)d.Attribute("id") == "Mono.Posix.NETStandard");
    }

    /// <summary>The symbol package holds the library's portable PDB.</summary>
    private static void CheckSymbols(string path)
    {
        using ZipArchive symbols = ZipFile.OpenRead(path);
        Assert.Contains(symbols.Entries, e => e.FullName == "lib/net10.0/NativeZcopy.pdb");
    }

    /// <summary>
    /// A console app that references the package from <paramref name="feed"/>, its own NuGet config adding
    /// that folder to the machine's usual sources, and a program that allocates through every front door.
    /// </summary>
    private void WriteConsumer(string app, string feed)
    {
        File.WriteAllText(Path.Combine(app, "ZcopyConsumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="NativeZcopy" Version="{_version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="nativezcopy-under-test" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using NativeZcopy;

            BioVec header = ZcopyAllocator.Shared.Alloc(64);
            header.AsSpan().Fill(0x42);
            BioVec run = NativePages.Alloc(1 << 20);
            run.AsSpan()[^1] = 7;
            using var pool = new ZcopyMemoryPool();
            using (var owner = pool.Rent())
            {
                owner.Memory.Span.Fill(1);
            }

            bool ok = NativePages.RefCount(header.Address) > 0 && NativePages.RefCount(run.Address) == 1;
            NativePages.Put(header);
            NativePages.Put(run);
            Console.WriteLine(ok ? "NativeZcopy consumer OK" : "NativeZcopy consumer FAILED");
            bool helper = System.Runtime.InteropServices.NativeLibrary.TryLoad("libMonoPosixHelper.so", typeof(NativePages).Assembly, null, out _);
            Console.WriteLine($"helper loadable: {helper}");
            return ok ? 0 : 1;
            """);
    }

    private static void TryDelete(string folder)
    {
        try
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
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
}
