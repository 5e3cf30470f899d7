namespace ShopAstro.LoadTests;

/// <summary>How long and how big each scenario runs. The key space is 1,000,000 subjects over 100 stores in both.</summary>
/// <param name="WritePairs">The durable writes alternate with the raw-upsert ceiling: the preload in this many parts, each
/// followed by a ceiling run of <c>PgCeilingDuration / WritePairs</c>.</param>
/// <param name="BatchPairs">The batch alternates with its ceiling: this many pairs, each side running <c>BatchDuration / BatchPairs</c>.</param>
public sealed record Profile(
    string Name,
    int Subjects,
    int Stores,
    int PreloadWrites,
    int EmbeddedPreload,
    int WriteConcurrency,
    int WriteWarmup,
    int WritePairs,
    TimeSpan PgCeilingDuration,
    TimeSpan WrkWarmup,
    TimeSpan WrkDuration,
    int WrkThreads,
    int WrkConnections,
    int CheckPairs,
    TimeSpan PairDuration,
    double[] SweepFractions,
    TimeSpan SweepStep,
    int BatchItems,
    int BatchConcurrency,
    TimeSpan BatchDuration,
    int BatchPairs,
    int FeedMinChanges,
    TimeSpan FeedDuration,
    long[] MemoryCheckpoints,
    long MemoryGranted)
{
    public static Profile Short { get; } = new(
        "short", 1_000_000, 100,
        PreloadWrites: 10_000, EmbeddedPreload: 5_000, WriteConcurrency: 32, WriteWarmup: 3_000, WritePairs: 3, PgCeilingDuration: TimeSpan.FromSeconds(6),
        WrkWarmup: TimeSpan.FromSeconds(6), WrkDuration: TimeSpan.FromSeconds(15), WrkThreads: 2, WrkConnections: 64,
        CheckPairs: 3, PairDuration: TimeSpan.FromSeconds(10),
        SweepFractions: [0.10, 0.25, 0.50, 0.75, 0.90], SweepStep: TimeSpan.FromSeconds(6),
        BatchItems: 10_000, BatchConcurrency: 4, BatchDuration: TimeSpan.FromSeconds(10), BatchPairs: 3,
        FeedMinChanges: 1_000, FeedDuration: TimeSpan.FromSeconds(4),
        // 20,000 granted subjects, as in the full profile: with 5,000 (on top of 5,000 warm-up activations) the growth of
        // Orleans' per-activation dictionaries weighs four times more per grain, and the figure moved from 3,046 to
        // 3,122 B in three runs of the same build (20,000: 3,008 to 3,023 B); about 15 s longer.
        MemoryCheckpoints: [100_000], MemoryGranted: 20_000);

    public static Profile Full { get; } = new(
        "full", 1_000_000, 100,
        PreloadWrites: 100_000, EmbeddedPreload: 20_000, WriteConcurrency: 32, WriteWarmup: 10_000, WritePairs: 5, PgCeilingDuration: TimeSpan.FromSeconds(20),
        WrkWarmup: TimeSpan.FromSeconds(30), WrkDuration: TimeSpan.FromSeconds(60), WrkThreads: 2, WrkConnections: 64,
        CheckPairs: 5, PairDuration: TimeSpan.FromSeconds(20),
        SweepFractions: [0.10, 0.25, 0.40, 0.50, 0.60, 0.75, 0.90], SweepStep: TimeSpan.FromSeconds(30),
        BatchItems: 10_000, BatchConcurrency: 4, BatchDuration: TimeSpan.FromSeconds(30), BatchPairs: 5,
        FeedMinChanges: 5_000, FeedDuration: TimeSpan.FromSeconds(20),
        MemoryCheckpoints: [100_000, 1_000_000], MemoryGranted: 20_000);

    public static Profile Named(string name) => name switch
    {
        "short" => Short,
        "full" => Full,
        _ => throw new ArgumentException($"unknown profile '{name}' (short or full)"),
    };
}
