namespace ShopAstro.LoadTests;

/// <summary>
/// The subject key space: <see cref="Subjects"/> shoppers spread over <see cref="Stores"/> stores, accessed with a
/// Zipf-like skew (a bounded Pareto of exponent <see cref="S"/>, the continuous form of Zipf's law). Rank 1 is the
/// hottest subject; rank r is subject index ((r - 1) * 7919) mod N, so that hot subjects spread over every store.
/// scripts/check.lua draws exactly the same way.
/// </summary>
public sealed class KeySpace(int subjects = 1_000_000, int stores = 100, double s = 1.1)
{
    private const long Stride = 7919;
    private readonly double _a = Math.Pow(subjects, 1 - s) - 1;
    private readonly double _e = 1 / (1 - s);

    public int Subjects { get; } = subjects;

    public int Stores { get; } = stores;

    public double S { get; } = s;

    public int SampleRank(Random random)
    {
        var rank = (long)Math.Pow(_a * random.NextDouble() + 1, _e);
        return (int)Math.Clamp(rank, 1, Subjects);
    }

    public int IndexOfRank(int rank) => (int)((rank - 1L) * Stride % Subjects);

    public int SampleIndex(Random random) => IndexOfRank(SampleRank(random));

    /// <summary>A skewed subject of one given store: the drawn subject moved to that store's residue class.</summary>
    public int SampleIndexInStore(Random random, int store)
    {
        var index = SampleIndex(random);
        var moved = index - index % Stores + store;
        return moved < Subjects ? moved : moved - Stores;
    }

    public int StoreOf(int index) => index % Stores;

    public static string StoreId(int store) => "s" + store;

    public static string SubjectId(int index) => "u" + index;

    /// <summary>Share of requests that land on the <paramref name="hottest"/> most frequent ranks.</summary>
    public double MassOfTop(int hottest) =>
        (Math.Pow(Math.Min(hottest + 1, Subjects), 1 - S) - 1) / (Math.Pow(Subjects, 1 - S) - 1);
}
