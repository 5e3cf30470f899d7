using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace ShopAstro.Grains;

/// <summary>
/// Names the archive of one erasure: an HMAC-SHA256 token under <see cref="ConsentClusterOptions.AnonymisationKey"/>
/// of the subject id and a random salt that is thrown away at once. Nobody, not even with the key, can recompute a
/// token from an id, test a guessed id, or tell that two archives (two erasures of the same subject) belong together.
/// </summary>
public sealed class SubjectAnonymiser(IOptions<ConsentClusterOptions> options)
{
    private const int SaltBytes = 32;

    private readonly byte[] _key = Convert.FromBase64String(
        options.Value.AnonymisationKey ?? throw new InvalidOperationException("Consent:AnonymisationKey is not configured."));

    /// <summary>A new token for every call, for the same subject too.</summary>
    public string NewToken(string storeId, string subjectId)
    {
        var id = Encoding.UTF8.GetBytes(storeId + "/" + subjectId);
        var salted = new byte[SaltBytes + id.Length];
        RandomNumberGenerator.Fill(salted.AsSpan(0, SaltBytes));
        id.CopyTo(salted, SaltBytes);
        return "tok_" + Convert.ToHexStringLower(HMACSHA256.HashData(_key, salted))[..40];
    }
}
