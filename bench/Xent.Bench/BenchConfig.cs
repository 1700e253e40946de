using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Xent.Bench;

internal static class BenchConfig
{
    /// <summary>
    /// In-process: BenchmarkDotNet's default out-of-process toolchain would generate and build a project that
    /// references this one, copying TorchSharp's ~1 GB of natives into yet another bin folder on every run.
    /// A 4096 x 32000 pass takes tens to hundreds of milliseconds, so a few warm-ups and ten measured
    /// iterations give a stable median without minutes of pilot runs.
    /// </summary>
    public static IConfig Create() => DefaultConfig.Instance
        .AddJob(Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithWarmupCount(3)
            .WithIterationCount(10)
            .AsDefault());
}
