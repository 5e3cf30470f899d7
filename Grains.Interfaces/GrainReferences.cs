using Orleans.Runtime;

namespace ShopAstro.Grains.Interfaces;

/// <summary>
/// <see cref="IGrainFactory.GetGrain{TGrainInterface}(string, string)"/> without its per-call work: Orleans resolves the
/// interface's <see cref="GrainInterfaceType"/> and <see cref="GrainType"/> on every call (reading the interface's
/// attributes by reflection: about 1 % of a silo's CPU per call site under first writes). Both depend only on the
/// types, so they are resolved once per interface, from the first reference made the usual way, and every
/// reference after that is made from its <see cref="GrainId"/>: the same grain, the same interface.
/// </summary>
public static class GrainReferences
{
    public static TGrainInterface Of<TGrainInterface>(this IGrainFactory grains, string key)
        where TGrainInterface : IGrainWithStringKey =>
        Types<TGrainInterface>.Resolved is { } types
            ? (TGrainInterface)grains.GetGrain(GrainId.Create(types.Grain, key), types.Interface)
            : Types<TGrainInterface>.Resolve(grains, key);

    private sealed record Ids(GrainType Grain, GrainInterfaceType Interface);

    private static class Types<TGrainInterface>
        where TGrainInterface : IGrainWithStringKey
    {
        /// <summary>Set once, as one reference (read and written whole by any thread).</summary>
        public static Ids? Resolved;

        public static TGrainInterface Resolve(IGrainFactory grains, string key)
        {
            var grain = grains.GetGrain<TGrainInterface>(key);
            var reference = (GrainReference)(object)grain;
            Resolved = new Ids(reference.GrainId.Type, reference.InterfaceType);
            return grain;
        }
    }
}
