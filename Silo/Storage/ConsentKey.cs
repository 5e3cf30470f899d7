using System.Data.Common;
using System.Text;
using Orleans.Runtime;
using Orleans.Storage;

namespace ShopAstro.Silo.Storage;

/// <summary>
/// A grain's row in the state table, keyed as Orleans' ADO.NET provider keys it (so that rows it wrote are found, and
/// it finds ours): a string key in GrainIdExtensionString; an integer key in GrainIdN1, a Guid key in GrainIdN0 and
/// GrainIdN1, each with its key extension, if any, in GrainIdExtensionString; hashed as the provider hashes them.
/// </summary>
internal sealed record ConsentKey(string ServiceId, string GrainType, long N0, long N1, string? Extension, int GrainIdHash, int GrainTypeHash)
{
    public static ConsentKey Of<T>(AdoNetGrainStorage provider, string serviceId, string providerName, string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var hasher = provider.HashPicker.PickHasher(serviceId, providerName, stateName, grainId, grainState)
            ?? throw new InvalidOperationException("The grain storage picked no hasher.");
        long n0 = 0, n1 = 0;
        string? extension;
        byte[] hashed;
        if (grainId.TryGetGuidKey(out var guid, out extension))
        {
            hashed = guid.ToByteArray();
            n0 = BitConverter.ToInt64(hashed, 0);
            n1 = BitConverter.ToInt64(hashed, 8);
        }
        else if (grainId.TryGetIntegerKey(out var integer, out extension))
        {
            n1 = integer;
            hashed = BitConverter.GetBytes(integer);
        }
        else
        {
            extension = grainId.Key.ToString()!;
            hashed = [];
        }

        // The key's bytes then the extension's (a string key is its extension alone), reversed on little-endian machines.
        if (extension is not null)
        {
            hashed = [.. hashed, .. Encoding.UTF8.GetBytes(extension)];
        }

        if (BitConverter.IsLittleEndian)
        {
            Array.Reverse(hashed);
        }

        return new ConsentKey(serviceId, stateName, n0, n1, extension, hasher.Hash(hashed), hasher.Hash(Encoding.UTF8.GetBytes(stateName)));
    }

    /// <summary>One order of rows for every transaction (see <see cref="GroupCommit"/>).</summary>
    public static int Compare(ConsentKey a, ConsentKey b) =>
        string.CompareOrdinal(a.GrainType, b.GrainType) is var byType and not 0 ? byType
        : a.N0.CompareTo(b.N0) is var byN0 and not 0 ? byN0
        : a.N1.CompareTo(b.N1) is var byN1 and not 0 ? byN1
        : string.CompareOrdinal(a.Extension ?? string.Empty, b.Extension ?? string.Empty);

    public override string ToString() => Extension is null ? $"{N0:x}/{N1:x}" : N0 == 0 && N1 == 0 ? Extension : $"{N0:x}/{N1:x}#{Extension}";

    public void Bind(DbParameterCollection parameters, Func<DbParameter> create)
    {
        void Add(string name, object? value)
        {
            var parameter = create();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            parameters.Add(parameter);
        }

        Add("GrainIdHash", GrainIdHash);
        Add("GrainIdN0", N0);
        Add("GrainIdN1", N1);
        Add("GrainTypeHash", GrainTypeHash);
        Add("GrainTypeString", GrainType);
        Add("GrainIdExtensionString", Extension);
        Add("ServiceId", ServiceId);
    }
}
