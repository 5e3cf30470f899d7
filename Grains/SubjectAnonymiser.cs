using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace ShopAstro.Grains;

/// <summary>
/// Replaces a subject id by a keyed, irreversible token (HMAC-SHA256 under
/// <see cref="ConsentClusterOptions.AnonymisationKey"/>): the same subject always gets the same token, and
/// nobody without the key can tell whose receipts they are, or test a guessed id.
/// </summary>
public sealed class SubjectAnonymiser(IOptions<ConsentClusterOptions> options)
{
    private readonly byte[] _key = Convert.FromBase64String(
        options.Value.AnonymisationKey ?? throw new InvalidOperationException("Consent:AnonymisationKey is not configured."));

    public string TokenFor(string storeId, string subjectId) =>
        "tok_" + Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(storeId + "/" + subjectId)))[..40];
}
