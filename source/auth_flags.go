package source

import "github.com/spf13/pflag"

// The flags that set an Auth, named once: messages about credentials name
// these, never the Go fields.
const (
	FlagUsername       = "--git-username"
	FlagPasswordFile   = "--git-password-file"
	FlagTokenFile      = "--git-token-file"
	FlagSSHKeyFile     = "--git-ssh-key-file"
	FlagKnownHostsFile = "--git-known-hosts-file"
)

// AddFlags registers the flags that set a.
func (a *Auth) AddFlags(f *pflag.FlagSet) {
	f.StringVar(&a.Username, FlagUsername[2:], "", "user name for https")
	f.StringVar(&a.PasswordFile, FlagPasswordFile[2:], "", "file holding the https password or the ssh key's passphrase (else $"+EnvPassword+")")
	f.StringVar(&a.TokenFile, FlagTokenFile[2:], "", "file holding an https token (else $"+EnvToken+")")
	f.StringVar(&a.SSHKeyFile, FlagSSHKeyFile[2:], "", "file holding the ssh private key")
	f.StringVar(&a.KnownHostsFile, FlagKnownHostsFile[2:], "", "known_hosts file for ssh (required with ssh)")
}
